//! The conformance suite is not a rubber stamp: rules that break a property fail it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::Tensor;
use byzsgd_core::registry::Guarantee;
use byzsgd_core::testing::Suite;
use byzsgd_core::{Aggregator, Bound, Error, MedianConfig, Result};

/// Returns its first input: not permutation invariant, not robust.
#[derive(Debug)]
struct First {
    f: usize,
}

impl Aggregator for First {
    fn name(&self) -> String {
        "first".into()
    }
    fn f(&self) -> usize {
        self.f
    }
    fn bound(&self) -> Bound {
        Bound::new(2, 1)
    }
    fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>> {
        let n = inputs.dims()[0];
        self.bound().check("first", n, self.f)?;
        Ok(inputs.narrow(0, 0, 1).squeeze_dim(0))
    }
}

/// The plain mean behind a `2f+1` bound: passes everything but robustness.
#[derive(Debug)]
struct Mean {
    f: usize,
}

impl Aggregator for Mean {
    fn name(&self) -> String {
        "mean".into()
    }
    fn f(&self) -> usize {
        self.f
    }
    fn bound(&self) -> Bound {
        Bound::new(2, 1)
    }
    fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>> {
        self.bound().check("mean", inputs.dims()[0], self.f)?;
        Ok(inputs.mean_dim(0).squeeze_dim(0))
    }
}

fn fails(suite: Suite) -> String {
    let err = catch_unwind(AssertUnwindSafe(|| suite.with_cases(24).run()))
        .expect_err("the suite should fail");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn order_dependent_rule_fails_permutation() {
    let msg = fails(Suite::new(
        "first",
        Bound::new(2, 1),
        Guarantee::None,
        |n, f| {
            Bound::new(2, 1).check("first", n, f)?;
            Ok(Box::new(First { f }) as Box<dyn Aggregator>)
        },
    ));
    assert!(msg.contains("permutation"), "{msg}");
}

#[test]
fn average_claiming_robustness_fails_robustness() {
    let msg = fails(Suite::new(
        "average",
        Bound::new(2, 1),
        Guarantee::Coordinatewise,
        |n, f| {
            Bound::new(2, 1).check("mean", n, f)?;
            Ok(Box::new(Mean { f }) as Box<dyn Aggregator>)
        },
    ));
    assert!(msg.contains("robustness"), "{msg}");
}

#[test]
fn rule_accepting_too_few_inputs_fails_bound_refusal() {
    // Median built with f = 0 whatever f is asked: accepts n = 2f, below 2f+1.
    let msg = fails(Suite::new(
        "median",
        Bound::new(2, 1),
        Guarantee::Coordinatewise,
        |n, _f| {
            if n == 0 {
                return Err(Error::Input("no inputs".into()));
            }
            Ok(Box::new(MedianConfig::new(n, 0).init()?) as Box<dyn Aggregator>)
        },
    ));
    assert!(msg.contains("bound refusal"), "{msg}");
}
