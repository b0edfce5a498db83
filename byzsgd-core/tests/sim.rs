//! The simulator on a noisy quadratic (fast, no data): determinism, Distributed Median
//! Contraction, crashes and partitions, the synchronous variant, and configuration errors.

mod common;

use byzsgd_core::Error;
use byzsgd_core::node::ClusterSpec;
use byzsgd_core::sim::{Crash, Partition, Report};
use common::{base, distance_to_target, run};

#[test]
fn same_seed_same_model_whatever_the_threads() {
    let a = run(
        ClusterSpec {
            threads: 1,
            ..base()
        },
        1.0,
    )
    .unwrap();
    let b = run(
        ClusterSpec {
            threads: 3,
            ..base()
        },
        1.0,
    )
    .unwrap();
    let c = run(ClusterSpec { seed: 2, ..base() }, 1.0).unwrap();
    println!(
        "hashes {:016x} {:016x} {:016x}",
        a.model_hash, b.model_hash, c.model_hash
    );
    assert_eq!(a.model_hash, b.model_hash);
    assert_eq!(
        a.gather_hashes, b.gather_hashes,
        "identical at every gather"
    );
    assert_eq!(a.gather_hashes.len(), 12, "T = 5 over 60 steps");
    assert_eq!(a.rows.len(), 60);
    assert_ne!(a.model_hash, c.model_hash, "the seed must matter");
    // It learned, despite ALIE workers and an equivocating server (the defaults).
    assert!(
        distance_to_target(&a.final_params) < 1.0,
        "{:?}",
        a.final_params
    );
    assert!(
        a.rows.iter().all(|r| r.kept.len() == 3),
        "MDA keeps q_w - f_w = 3 of 5"
    );
}

fn mean_diameter(r: &Report) -> f64 {
    r.rows
        .iter()
        .map(|r| r.diameter_after_gather.unwrap_or(r.diameter))
        .sum::<f64>()
        / r.rows.len() as f64
}

/// Random latencies make replicas aggregate different quorums, and an equivocating server sends
/// each its own model: without gathers the honest replicas drift apart; DMC keeps them together.
#[test]
fn distributed_median_contraction_keeps_the_replicas_together() {
    // Nothing pulls two replicas together but the gathers (workers compute at the median, so
    // every replica applies gradients taken at the same points): without them the difference is
    // a random walk, growing like the square root of the steps.
    let mut cfg = ClusterSpec {
        steps: 400,
        lr: "0.01".into(),
        attack: "gaussian:5".into(),
        ..base()
    };
    cfg.network.jitter = 1.0;
    let with = run(
        ClusterSpec {
            gather_period: Some(3),
            ..cfg.clone()
        },
        4.0,
    )
    .unwrap();
    let without = run(
        ClusterSpec {
            gather_period: Some(0),
            ..cfg
        },
        4.0,
    )
    .unwrap();
    let (dw, dn) = (mean_diameter(&with), mean_diameter(&without));
    println!(
        "mean honest diameter: {dw:.4} with gathers, {dn:.4} without ({:.1}x)",
        dn / dw
    );
    assert!(dn >= 5.0 * dw, "DMC: {dw} with gathers, {dn} without");
    // Each gather contracts: after it, the honest replicas are closer than before it.
    let gathers: Vec<(f64, f64)> = with
        .rows
        .iter()
        .filter_map(|r| r.diameter_after_gather.map(|after| (r.diameter, after)))
        .collect();
    assert_eq!(gathers.len(), 133, "T = 3 over 400 steps");
    let contracted = gathers.iter().filter(|(b, a)| a < b).count();
    assert!(
        contracted * 10 >= gathers.len() * 9,
        "{contracted} of {} gathers contracted",
        gathers.len()
    );
}

#[test]
fn crashes_losses_and_a_healing_partition_are_survived() {
    for seed in [1, 2] {
        println!("seed {seed}");
        crashes_losses_and_a_partition(seed);
    }
}

fn crashes_losses_and_a_partition(seed: u64) {
    // The one fault the replicas tolerate is a crash of an honest replica (s1) this time: the
    // last replica follows the protocol. Worker w6 crashes too, 5% of transmissions are lost.
    let mut cfg = ClusterSpec {
        server_attack: "none".into(),
        seed,
        ..base()
    };
    cfg.network.loss = 0.05;
    cfg.network.crashes = vec![Crash::at("w6", 10), Crash::at("s1", 5)];
    cfg.network.partitions = vec![Partition {
        nodes: vec!["s0".into(), "w2".into()],
        from: 5.0,
        until: 25.0,
    }];
    let r = run(cfg, 1.0).unwrap();
    assert_eq!(r.rows.len(), 60);
    assert!(distance_to_target(&r.final_params) < 1.0);
    // The crashed replica's model stops counting in the diameter after its crash; the others'
    // after-gather diameters stay small.
    assert!(
        r.rows[20..].iter().all(|row| row.diameter < 1.0),
        "{:?}",
        r.rows[59]
    );
    // The partition held messages back: the run took longer than without it.
    let free = run(ClusterSpec { seed, ..base() }, 1.0).unwrap();
    assert!(r.simulated_time > free.simulated_time + 10.0);
}

#[test]
fn a_quorum_that_cannot_form_is_an_error_not_a_hang() {
    let mut cfg = base();
    // q_w = 5 of 7 workers; three crash at step 3.
    cfg.network.crashes = (4..7).map(|w| Crash::at(&format!("w{w}"), 3)).collect();
    let err = run(cfg, 1.0).unwrap_err();
    assert!(matches!(err, Error::Stalled(_)), "{err}");
    assert!(err.to_string().contains("honest servers at steps"), "{err}");
}

#[test]
fn synchronous_mode_rejects_a_reversing_server_and_learns() {
    for seed in [1, 2] {
        println!("seed {seed}");
        let cfg = ClusterSpec {
            mode: "sync".into(),
            server_attack: "reverse".into(),
            attack: "signflip".into(),
            steps: 80,
            seed,
            ..base()
        };
        let r = run(cfg, 0.5).unwrap();
        println!("{:?}", r.counts);
        // The reversed model -θ is far from where each worker expects the next one: the
        // distance filter, not a timeout or the Lipschitz filter, is what rejects it.
        let distance = r.counts.get("rejected: distance").copied().unwrap_or(0);
        assert!(
            distance >= 10,
            "the reversing server's replies were rejected {distance} times by the distance filter"
        );
        assert!(
            distance_to_target(&r.final_params) < 1.0,
            "{:?}",
            r.final_params
        );
    }
}

/// The spec's `lipschitz_slack` reaches every worker's filter: on the noisy quadratic with every
/// node following the protocol, the paper's filter (slack 1) rejects honest replies, a slack of 3
/// far fewer. (With `Cluster::correct_worker` ignoring the spec's slack, both counts are equal
/// and this fails.)
#[test]
fn the_lipschitz_slack_reaches_the_workers() {
    let rejected = |slack: f64| {
        let cfg = ClusterSpec {
            mode: "sync".into(),
            attack: "none".into(),
            server_attack: "none".into(),
            steps: 80,
            lipschitz_slack: slack,
            ..base()
        };
        let r = run(cfg, 0.5).unwrap();
        println!("slack {slack}: {:?}", r.counts);
        r.counts.get("rejected: lipschitz").copied().unwrap_or(0)
    };
    let (paper, slack) = (rejected(1.0), rejected(3.0));
    assert!(
        paper >= 20 && slack * 4 <= paper,
        "Lipschitz rejections: {paper} with the paper's filter, {slack} with a slack of 3"
    );
}

#[test]
fn bad_configurations_fail_before_anything_runs() {
    let cases = [
        (
            ClusterSpec {
                servers: 4,
                ..base()
            },
            "n_ps >= 3 f_ps + 2",
        ),
        (
            ClusterSpec {
                byz_workers: 3,
                ..base()
            },
            "n_w >= 3 f_w + 1",
        ),
        (
            ClusterSpec {
                gar: "krum".into(),
                ..base()
            },
            "krum needs n >= 2f+3",
        ),
        (
            ClusterSpec {
                attack: "alie:x".into(),
                ..base()
            },
            "not a finite number",
        ),
        (
            ClusterSpec {
                attack: "bogus".into(),
                ..base()
            },
            "unknown worker attack",
        ),
        (
            ClusterSpec {
                server_attack: "lie".into(),
                ..base()
            },
            "unknown server attack",
        ),
        (
            ClusterSpec {
                mode: "fast".into(),
                ..base()
            },
            "unknown mode",
        ),
        (
            ClusterSpec {
                lr: "-1".into(),
                ..base()
            },
            "learning rate",
        ),
    ];
    for (cfg, want) in cases {
        let err = cfg.resolve().unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
}

/// Omniscient attackers craft from the honest gradients of the step; with `attack_own_data` they
/// estimate from their own, as they must over a network. Both runs complete, and they differ.
#[test]
fn attackers_can_be_limited_to_their_own_data() {
    let cfg = ClusterSpec {
        attack: "alie".into(),
        ..base()
    };
    let omniscient = run(cfg.clone(), 1.0).unwrap();
    let own = run(
        ClusterSpec {
            attack_own_data: true,
            ..cfg
        },
        1.0,
    )
    .unwrap();
    assert_ne!(omniscient.model_hash, own.model_hash);
    assert!(distance_to_target(&own.final_params) < 1.0);
}

/// A diverging run (plain averaging under a strong attack) ends as a result, not an error.
/// Plain: behind NNM (async's default) the average's sums no longer overflow before the
/// attackers' own vectors do, and once those are non-finite (refused) the honest gradients
/// pull the model back.
#[test]
fn divergence_ends_the_run_and_is_reported() {
    let cfg = ClusterSpec {
        gar: "average".into(),
        pre: Some("none".into()),
        attack: "foe:1000".into(),
        ..base()
    };
    let r = run(cfg, 1.0).unwrap();
    let at = r.diverged.expect("averaging cannot survive foe:1000");
    assert!(at < 60, "diverged at {at}");
    assert_eq!(r.rows.len() as u64, at);
}
