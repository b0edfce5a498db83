//! Distributed Median Contraction on a real model: `mlp` on the embedded synthetic set, random
//! link latencies (so replicas aggregate different quorums) and an equivocating server. The honest
//! replicas' mean diameter over the run must be at least 5x smaller with gathers than without.

use burn::tensor::Device;
use byzsgd_burn::train_classifier;
use byzsgd_core::node::ClusterSpec;
use byzsgd_core::sim::Report;
use byzsgd_datasets::{Normalization, synthetic};

fn run(gather_period: u64) -> Report {
    let mut cfg = ClusterSpec {
        gather_period: Some(gather_period),
        server_attack: "equivocate".into(),
        attack: "alie".into(),
        steps: 200,
        eval_every: 0,
        seed: 3,
        threads: 2,
        ..ClusterSpec::default()
    };
    cfg.network.jitter = 1.0;
    println!("seed {}", cfg.seed);
    let data = synthetic::generate(5_000, 100, cfg.seed);
    train_classifier(
        "mlp",
        &data,
        &Normalization::synthetic(),
        &Device::flex(),
        cfg,
        &mut |_| {},
    )
    .expect("runs")
    .report
}

/// Mean over the run of the diameter after each step's update (before the step's gather, if any).
fn mean_diameter(r: &Report) -> f64 {
    r.rows.iter().map(|r| r.diameter).sum::<f64>() / r.rows.len() as f64
}

#[test]
fn gathers_keep_honest_replicas_at_least_5x_closer() {
    let (with, without) = (run(3), run(0));
    let (dw, dn) = (mean_diameter(&with), mean_diameter(&without));
    println!(
        "mean honest-replica diameter: {dw:.4} with gathers every 3 steps, {dn:.4} without \
         ({:.1}x)",
        dn / dw
    );
    assert!(dn >= 5.0 * dw, "{dw} with gathers, {dn} without");
    assert!(
        without
            .rows
            .iter()
            .all(|r| r.diameter_after_gather.is_none())
    );
}
