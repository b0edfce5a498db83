//! The single-node baseline on real data: plain SGD (no Byzantine machinery), `mlp` on the real
//! Fashion-MNIST (Debian's `dataset-fashion-mnist`), through the same flat-vector path the ByzSGD
//! engine uses, reaches at least 80% test accuracy, on each of two seeds.

use byzsgd_datasets::{Normalization, load_fashion_mnist_default};
use byzsgd_tests::{test_accuracy, train_single_node};

#[test]
fn mlp_reaches_80_percent_on_fashion_mnist() {
    let split = load_fashion_mnist_default().unwrap_or_else(|e| panic!("{e}"));
    let norm = Normalization::fashion_mnist();
    let steps: usize = std::env::var("BYZSGD_BASELINE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    for seed in [1, 2] {
        println!("seed {seed}");
        baseline(&split, &norm, steps, seed);
    }
}

fn baseline(split: &byzsgd_datasets::Split, norm: &Normalization, steps: usize, seed: u64) {
    let start = std::time::Instant::now();
    let (model, losses) = train_single_node("mlp", &split.train, norm, steps, 64, 0.1, seed);
    println!("{steps} steps in {:.1} s", start.elapsed().as_secs_f64());
    let first: f32 = losses[..50].iter().sum::<f32>() / 50.0;
    let last: f32 = losses[losses.len() - 50..].iter().sum::<f32>() / 50.0;
    let acc = test_accuracy(&model, &split.test, norm);
    println!(
        "loss {first:.3} -> {last:.3}, test accuracy {:.2}%",
        100.0 * acc
    );
    assert!(
        last < first,
        "training should lower the loss: {first} -> {last}"
    );
    assert!(
        acc >= 0.80,
        "seed {seed}: test accuracy {:.2}% below 80%",
        100.0 * acc
    );
}
