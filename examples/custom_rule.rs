//! A user-written aggregation rule, checked by byzsgd's conformance suite.
//!
//! The rule: per coordinate, drop the `f` smallest and `f` largest values and take the midpoint
//! of what is left (a "trimmed midrange"). It is written once in Burn tensor ops, so it runs on any
//! device, and it implements [`Aggregator`] alone. Run with `cargo run --example custom_rule`.

use burn::tensor::{Device, Tensor};
use byzsgd::registry::Guarantee;
use byzsgd::testing::Suite;
use byzsgd::{Aggregator, Bound, Result};

/// Per coordinate, the midpoint of the values ranked `f` and `n-f-1`. Needs `n >= 2f+1`.
#[derive(Debug)]
struct TrimmedMidrange {
    f: usize,
}

const BOUND: Bound = Bound::new(2, 1);

impl TrimmedMidrange {
    /// Checks the bound once, as the built-in configs' `init()` do.
    fn new(n: usize, f: usize) -> Result<Self> {
        BOUND.check("trimmed-midrange", n, f)?;
        Ok(Self { f })
    }
}

impl Aggregator for TrimmedMidrange {
    fn name(&self) -> String {
        "trimmed-midrange".into()
    }

    fn f(&self) -> usize {
        self.f
    }

    fn bound(&self) -> Bound {
        BOUND
    }

    fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>> {
        let [n, _] = inputs.dims();
        BOUND.check(&self.name(), n, self.f)?;
        // Order NaN above everything, as the built-in coordinate-wise rules do.
        let nan = inputs.clone().is_nan();
        let sorted = inputs.mask_fill(nan, f32::INFINITY).sort(0);
        let low = sorted.clone().narrow(0, self.f, 1);
        let high = sorted.narrow(0, n - self.f - 1, 1);
        Ok((low.mul_scalar(0.5) + high.mul_scalar(0.5)).squeeze_dim(0))
    }
}

fn main() {
    let device = Device::default();
    let inputs = Tensor::<2>::from_floats(
        [
            [1.0, 10.0],
            [2.0, 20.0],
            [3.0, 30.0],
            [f32::NAN, -1e30],
            [2.5, 25.0],
        ],
        &device,
    );
    let rule = TrimmedMidrange::new(5, 1).expect("5 >= 2*1+1");
    let out = rule
        .aggregate(inputs)
        .expect("aggregate")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    println!("trimmed-midrange of 5 inputs (1 Byzantine: NaN and -1e30): {out:?}");

    match TrimmedMidrange::new(4, 2) {
        Err(e) => println!("refused as expected: {e}"),
        Ok(_) => panic!("n = 4 with f = 2 must be refused"),
    }

    println!("running the conformance suite on trimmed-midrange ...");
    Suite::new(
        "trimmed-midrange",
        BOUND,
        Guarantee::Coordinatewise,
        |n, f| Ok(Box::new(TrimmedMidrange::new(n, f)?) as Box<dyn Aggregator>),
    )
    .with_cases(64)
    .run();
    println!(
        "trimmed-midrange passes: identity, permutation invariance, determinism, robustness, bound refusal"
    );
}
