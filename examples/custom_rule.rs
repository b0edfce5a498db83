//! A user-written aggregation rule, checked by byzsgd's conformance suite, then training a model
//! under ByzSGD as the servers' rule.
//!
//! The rule: per coordinate, drop the `f` smallest and `f` largest values and take the midpoint
//! of what is left (a "trimmed midrange"). It is written once in Burn tensor ops, so it runs on any
//! device, and it implements [`Aggregator`] alone. Run with `cargo run --example custom_rule`.

use burn::tensor::{Device, Tensor};
use byzsgd::byzsgd_burn::{ClassifierBatcher, test_accuracy};
use byzsgd::registry::Guarantee;
use byzsgd::testing::Suite;
use byzsgd::{Aggregator, Bound, ByzSgd, Result};
use byzsgd_datasets::{ImageBatcher, Normalization, synthetic};
use byzsgd_models::Model;

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
    train_with_it();
}

/// The rule as the servers' gradient rule: an MLP on the embedded synthetic data set, 5 replicas
/// (one equivocating) and 7 workers (two flipping their gradients' sign).
fn train_with_it() {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    ad.seed(1);
    let data = synthetic::generate(4_000, 1_000, 1);
    let norm = Normalization::synthetic();
    let model = Model::new("mlp", &ad).expect("mlp");
    let (test, eval_device) = (data.test.clone(), device.clone());
    let eval_norm = norm.clone();
    let trained = ByzSgd::new(
        model,
        data.train.clone(),
        ClassifierBatcher(ImageBatcher::new(norm.clone())),
        ad,
    )
    .servers(5, 1)
    .server_attack("equivocate")
    .workers(7, 2)
    .attack("signflip")
    // Each replica aggregates the first q_w = n_w - f_w = 5 gradients, 2 of them Byzantine.
    .rule(|n, f| Ok(Box::new(TrimmedMidrange::new(n, f)?) as Box<dyn Aggregator>))
    .steps(300)
    .eval_every(0)
    .seed(1)
    .evaluate(move |m: &Model| test_accuracy(m, &test, &eval_norm, &eval_device))
    .run(&mut |_| {})
    .expect("training under the user's rule");
    let replicas = trained.report.final_test_accuracy.expect("a test set");
    let product = test_accuracy(&trained.model, &data.test, &norm, &device);
    println!(
        "trained mlp under trimmed-midrange, signflip workers and an equivocating server: \
         {:.1}% (first honest replica), {:.1}% (the median of the replicas' models, the product)",
        100.0 * replicas,
        100.0 * product
    );
    assert!(product > 0.5, "the user's rule did not train the model");
}
