//! Your own Burn model under ByzSGD: a model that is not in `byzsgd-models`, with its own loss,
//! your own `Dataset` and `Batcher`, trained by 5 server replicas (one Byzantine, equivocating)
//! and 7 workers (two Byzantine, running "a little is enough"), all simulated in this process.
//!
//! The task: tell two interleaved spirals apart from a point's (x, y). Run with
//! `cargo run --example train_own_model`; it exits non-zero if the model did not learn.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use byzsgd_burn::ByzSgd;
use byzsgd_burn::Trainable;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A 2-64-64-2 perceptron.
#[derive(Module, Debug)]
struct SpiralNet {
    a: Linear,
    b: Linear,
    out: Linear,
}

impl SpiralNet {
    fn new(device: &Device) -> Self {
        Self {
            a: LinearConfig::new(2, 64).init(device),
            b: LinearConfig::new(64, 64).init(device),
            out: LinearConfig::new(64, 2).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out
            .forward(relu(self.b.forward(relu(self.a.forward(x)))))
    }
}

/// Points and their spiral.
#[derive(Debug, Clone)]
struct PointBatch {
    xy: Tensor<2>,
    label: Tensor<1, Int>,
}

/// The one thing byzsgd needs from a model: its loss on a batch.
impl Trainable for SpiralNet {
    type Batch = PointBatch;

    fn loss(&self, batch: &PointBatch) -> Tensor<1> {
        let logits = self.forward(batch.xy.clone());
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, batch.label.clone())
    }
}

/// `n` points on two noisy spirals.
#[derive(Debug, Clone)]
struct Spirals(Vec<([f32; 2], i64)>);

impl Spirals {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self(
            (0..n)
                .map(|i| {
                    let label = (i % 2) as i64;
                    let t: f32 = rng.random_range(0.3f32..3.0);
                    let angle = 2.5 * t + std::f32::consts::PI * label as f32;
                    let mut noise = || 0.08 * (rng.random::<f32>() - 0.5);
                    let p = [t * angle.cos() + noise(), t * angle.sin() + noise()];
                    (p, label)
                })
                .collect(),
        )
    }
}

impl Dataset<([f32; 2], i64)> for Spirals {
    fn get(&self, index: usize) -> Result<([f32; 2], i64), DatasetError> {
        self.0
            .get(index)
            .copied()
            .ok_or_else(|| DatasetError::new(std::io::Error::other(format!("no point {index}"))))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Debug, Clone)]
struct PointBatcher;

impl Batcher<([f32; 2], i64), PointBatch> for PointBatcher {
    fn batch(&self, items: Vec<([f32; 2], i64)>, device: &Device) -> PointBatch {
        let n = items.len();
        let xy: Vec<f32> = items.iter().flat_map(|(p, _)| *p).collect();
        let label: Vec<i64> = items.iter().map(|(_, l)| *l).collect();
        PointBatch {
            xy: Tensor::from_data(TensorData::new(xy, [n, 2]), device),
            label: Tensor::from_data(TensorData::new(label, [n]), device),
        }
    }
}

fn accuracy(model: &SpiralNet, test: &Spirals, device: &Device) -> f64 {
    let batch = PointBatcher.batch(test.0.clone(), device);
    let predicted = model.forward(batch.xy).argmax(1).squeeze_dim::<1>(1);
    let correct: i64 = predicted
        .equal(batch.label)
        .int()
        .sum()
        .into_scalar::<i64>();
    correct as f64 / test.len() as f64
}

fn main() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = SpiralNet::new(&device);
    let test = Spirals::new(1_000, 2);
    let eval_device = Device::flex();
    let trained = ByzSgd::new(model, Spirals::new(8_000, 1), PointBatcher, device)
        .servers(5, 1)
        .server_attack("equivocate")
        .workers(7, 2)
        .attack("alie")
        .steps(400)
        .batch(32)
        .lr("0.1")
        .eval_every(100)
        .evaluate(move |m: &SpiralNet| accuracy(m, &test, &eval_device))
        .run(&mut |row| {
            if let Some(acc) = row.test_accuracy {
                println!(
                    "step {:>4}: loss {:.3}, test accuracy {:.1}%, replica diameter {:.2e}",
                    row.step + 1,
                    row.loss.unwrap_or(f64::NAN),
                    100.0 * acc,
                    row.diameter
                );
            }
        })
        .unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
    let acc = trained.report.final_test_accuracy.unwrap_or(0.0);
    println!(
        "final test accuracy {:.1}%, model hash {:016x}",
        100.0 * acc,
        trained.report.model_hash
    );
    if acc < 0.85 {
        eprintln!("the model did not learn the spirals ({:.1}%)", 100.0 * acc);
        std::process::exit(1);
    }
}
