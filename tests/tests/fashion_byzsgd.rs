//! ByzSGD on the real Fashion-MNIST (Debian's `dataset-fashion-mnist`): `mlp`, 5 servers (the
//! last one equivocating), 7 workers (the first two Byzantine), MDA, 500 steps of batch 32, the
//! defaults' worker momentum. Each fixed worker attack must end within 3 points of the run whose
//! Byzantine slots follow the protocol (5 points for the adaptive ones) on average over two seeds
//! (1 and 2, each against the honest run of the same seed; no seed more than 2 points beyond, 3
//! for the adaptive ones);
//! plain averaging under `foe:10` must end at least 20 points lower on each: the attack is live.
//!
//! `nan` and `inf` test the servers' input checks, not the rule: every such vector is refused
//! before aggregation (the test checks the refusals were counted), so MDA never sees them.
//!
//! `BYZSGD_ACCEPT_STEPS` overrides the number of steps (for a quick look; the acceptance is 500).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use burn::tensor::Device;
use byzsgd_burn::train_classifier;
use byzsgd_core::node::ClusterSpec;
use byzsgd_datasets::{Normalization, Split, load_fashion_mnist_default};

fn data() -> &'static Split {
    static DATA: OnceLock<Split> = OnceLock::new();
    DATA.get_or_init(|| load_fashion_mnist_default().unwrap_or_else(|e| panic!("{e}")))
}

fn steps() -> u64 {
    std::env::var("BYZSGD_ACCEPT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

/// The seeds every comparison runs on.
const SEEDS: [u64; 2] = [1, 2];

fn config(attack: &str, gar: &str) -> ClusterSpec {
    ClusterSpec {
        attack: attack.into(),
        gar: gar.into(),
        server_attack: "equivocate".into(),
        steps: steps(),
        batch: 32,
        eval_every: 0,
        seed: 1,
        threads: 2,
        ..ClusterSpec::default()
    }
}

/// Final test accuracy of a run, and what its honest nodes recorded.
fn run(attack: &str, gar: &str, seed: u64) -> (f64, BTreeMap<String, usize>) {
    let cfg = ClusterSpec {
        seed,
        ..config(attack, gar)
    };
    println!("seed {} attack {attack} gar {gar}", cfg.seed);
    let t = std::time::Instant::now();
    let trained = train_classifier(
        "mlp",
        data(),
        &Normalization::fashion_mnist(),
        &Device::flex(),
        cfg,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{attack}: {e}"));
    let acc = trained.report.final_test_accuracy.expect("a test set");
    println!(
        "{attack} / {gar} / seed {seed}: {:.2}% in {:.1} s",
        100.0 * acc,
        t.elapsed().as_secs_f64()
    );
    (acc, trained.report.counts)
}

/// The run of `seed` with the same cluster whose Byzantine workers follow the protocol (once per
/// seed, whichever test asks first).
fn honest(seed: u64) -> f64 {
    static HONEST: [OnceLock<f64>; SEEDS.len()] = [const { OnceLock::new() }; SEEDS.len()];
    let slot = SEEDS.iter().position(|&s| s == seed).expect("one of SEEDS");
    *HONEST[slot].get_or_init(|| {
        let (acc, _) = run("none", "mda", seed);
        assert!(
            acc >= 0.80,
            "the honest run of seed {seed} reaches {:.2}%, not 80%",
            100.0 * acc
        );
        acc
    })
}

/// On average over the seeds, `attack` ends at most `points` below the honest run of the same
/// seed, and no seed more than `slack` points beyond that (one seed's draw moves a run by a
/// point or two: measured, mimic ended 0.56 above the honest run on seed 1 and 2.94 below on
/// seed 2; the adaptive attacks' draws spread wider, see [`ADAPTIVE_SLACK`]).
fn within(attack: &str, points: f64, slack: f64) {
    let mut drops = Vec::new();
    for seed in SEEDS {
        let (a, counts) = run(attack, "mda", seed);
        let h = honest(seed);
        let drop = 100.0 * (h - a);
        assert!(
            drop <= points + slack,
            "{attack}, seed {seed}: {:.2}% against {:.2}% honest ({drop:.2} points lower)",
            100.0 * a,
            100.0 * h
        );
        drops.push(drop);
        if matches!(attack, "nan" | "inf") {
            // Refused at the door: two Byzantine workers, at every honest replica, every step.
            let refused = counts
                .get("refused: non-finite values")
                .copied()
                .unwrap_or(0);
            assert!(refused as u64 >= steps(), "{attack}: {refused} refusals");
        }
    }
    let mean = drops.iter().sum::<f64>() / drops.len() as f64;
    assert!(
        mean <= points,
        "{attack}: {mean:.2} points below the honest runs on average over seeds {SEEDS:?} \
         (more than {points})"
    );
}

/// One seed of a fixed attack may end this much beyond the mean's bound.
const SLACK: f64 = 2.0;

/// One seed of an adaptive attack may end this much beyond the mean's bound. Measured with
/// `simulate` (this cluster, 500 steps), the drop of `alie:auto` below the honest run over seeds
/// 1–7 was 0.74, 3.19, 3.21, 2.26, 2.50, 5.86, −0.15 (mean 2.52) before NNM stopped writing out
/// its mixed rows, and 0.72, 7.37, 1.93, 1.11, 2.26, 3.54, −1.26 (mean 2.24) after: the same
/// rule up to rounding, whose runs then part ways; one seed in seven falls 6–7.4 points.
const ADAPTIVE_SLACK: f64 = 3.0;

macro_rules! attacks {
    ($($name:ident: $attack:literal within $points:literal, slack $slack:expr);* $(;)?) => {$(
        #[test]
        fn $name() {
            within($attack, $points, $slack);
        }
    )*};
}

attacks! {
    alie_is_defeated: "alie" within 3.0, slack SLACK;
    foe_is_defeated: "foe" within 3.0, slack SLACK;
    foe_strong_is_defeated: "foe:10" within 3.0, slack SLACK;
    signflip_is_defeated: "signflip" within 3.0, slack SLACK;
    reverse_is_defeated: "reverse" within 3.0, slack SLACK;
    gaussian_is_defeated: "gaussian" within 3.0, slack SLACK;
    labelflip_is_defeated: "labelflip" within 3.0, slack SLACK;
    mimic_is_defeated: "mimic" within 3.0, slack SLACK;
    nan_is_defeated: "nan" within 3.0, slack SLACK;
    inf_is_defeated: "inf" within 3.0, slack SLACK;
    adaptive_alie_is_contained: "alie:auto" within 5.0, slack ADAPTIVE_SLACK;
    adaptive_foe_is_contained: "foe:auto" within 5.0, slack ADAPTIVE_SLACK;
}

#[test]
fn averaging_falls_to_foe_10() {
    for seed in SEEDS {
        let (h, (a, _)) = (honest(seed), run("foe:10", "average", seed));
        assert!(
            a <= h - 0.20,
            "averaging under foe:10, seed {seed}, ends at {:.2}%, honest {:.2}%: the attack is \
             not live",
            100.0 * a,
            100.0 * h
        );
    }
}

#[test]
fn same_seed_same_model_hash() {
    let run = || {
        let cfg = ClusterSpec {
            steps: 30,
            ..config("alie", "mda")
        };
        let data = data();
        train_classifier(
            "mlp",
            data,
            &Normalization::fashion_mnist(),
            &Device::flex(),
            cfg,
            &mut |_| {},
        )
        .expect("runs")
        .report
        .model_hash
    };
    let (a, b) = (run(), run());
    println!("model hashes {a:016x} {b:016x}");
    assert_eq!(a, b);
}
