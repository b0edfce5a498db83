//! Faults the simulator injects that the protocol must recover from by itself: replicas that
//! crash and restart (from their snapshot, or from scratch far behind), messages lost for good,
//! and Distributed Median Contraction under every server attack.

mod common;

use byzsgd_core::node::ClusterSpec;
use byzsgd_core::sim::{Crash, Report, RestartFrom};
use byzsgd_core::{Aggregator, MedianConfig, Rows};
use common::{base, distance_to_target, run};

fn count(r: &Report, kind: &str) -> usize {
    r.counts.get(kind).copied().unwrap_or(0)
}

/// With the Byzantine replica silent, the four honest ones are exactly the `q_ps` every quorum
/// needs: when s1 crashes the asynchronous cluster halts. s1 comes back from scratch (step 0, the
/// initial model: 12 windows of 8 steps behind), catches up from its peers' states, and the run
/// finishes. Before catch-up existed, a restarted replica began at step 0 and never advanced.
#[test]
fn a_replica_restarted_far_behind_catches_up_past_silent_byzantine_ones() {
    for (mode, seed) in [("async", 1), ("sync", 1), ("async", 2), ("sync", 2)] {
        println!("seed {seed}");
        let mut cfg = ClusterSpec {
            mode: mode.into(),
            seed,
            server_attack: "silent".into(),
            steps: 160,
            ..base()
        };
        cfg.network.crashes = vec![Crash::at("s1", 100).restarting(20.0, RestartFrom::Scratch)];
        let r = run(cfg, 0.5).unwrap();
        println!("{mode}: {:?}", r.counts);
        assert_eq!(r.rows.len(), 160, "{mode}");
        assert!(count(&r, "caught up") >= 1, "{mode}: {:?}", r.counts);
        assert!(distance_to_target(&r.final_params) < 1.0, "{mode}");
        let s1 = &r.server_models[1];
        assert!(distance_to_target(s1) < 1.0, "{mode}: s1 at {s1:?}");
    }
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// s1 crashes at step 30 and restarts from its snapshot while the others (an equivocating
/// replica among them) went on; after the next gathers its distance to the other honest
/// replicas' median is at most their largest pairwise distance.
#[test]
fn a_replica_restored_from_its_snapshot_rejoins_the_honest_ones() {
    for (mode, seed) in [("async", 1), ("sync", 1), ("async", 2), ("sync", 2)] {
        println!("seed {seed}");
        let mut cfg = ClusterSpec {
            mode: mode.into(),
            seed,
            steps: 80,
            ..base()
        };
        cfg.network.crashes = vec![Crash::at("s1", 30).restarting(15.0, RestartFrom::Snapshot)];
        let r = run(cfg, 1.0).unwrap();
        println!("{mode}: {:?}", r.counts);
        assert_eq!(r.rows.len(), 80);
        assert!(count(&r, "caught up") >= 1, "{mode}: {:?}", r.counts);
        let others: Vec<&[f32]> = [0, 2, 3].iter().map(|&s| &r.server_models[s][..]).collect();
        let dim = others[0].len();
        let median = MedianConfig::new(3, 0).init().unwrap();
        let rows: Vec<f32> = others.concat();
        let (m, _) = median
            .aggregate_rows(Rows::new(&rows, 3, dim).unwrap())
            .unwrap();
        let spread = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| distance(others[i], others[j]))
            .fold(0.0, f64::max);
        let d = distance(&r.server_models[1], &m);
        println!("{mode}: s1 {d:.4} from the median, honest spread {spread:.4}");
        assert!(d <= spread.max(1e-6), "{mode}: {d} > {spread}");
    }
}

/// One message in fifty lost for good with its connection, nothing resent by the network, and a
/// silent Byzantine replica so that every honest replica's model is needed: the protocol's
/// re-sends on reconnection (and its stall timers, pull timeouts and re-requests) carry both
/// modes to the end. Without the re-sends and the stall timers' requests, the asynchronous run
/// stalls at once.
#[test]
fn messages_lost_for_good_are_recovered_by_the_protocol() {
    for (mode, seed) in [("async", 1), ("sync", 1), ("async", 2), ("sync", 2)] {
        println!("seed {seed}");
        let mut cfg = ClusterSpec {
            mode: mode.into(),
            seed,
            server_attack: "silent".into(),
            ..base()
        };
        cfg.network.loss_for_good = 0.02;
        let r = run(cfg, 1.0).unwrap();
        println!("{mode}: {:?}", r.counts);
        assert_eq!(r.rows.len(), 60, "{mode}");
        assert!(distance_to_target(&r.final_params) < 1.0, "{mode}");
    }
}

/// Every gather contracts the honest replicas, whatever the Byzantine one sends (or not).
#[test]
fn dmc_contracts_the_replicas_under_every_server_attack() {
    for attack in ["equivocate", "random", "reverse", "stale:1", "silent"] {
        let mut cfg = ClusterSpec {
            steps: 200,
            lr: "0.01".into(),
            attack: "gaussian:5".into(),
            server_attack: attack.into(),
            gather_period: Some(3),
            ..base()
        };
        cfg.network.jitter = 1.0;
        let r = run(cfg, 4.0).unwrap();
        let (before, after): (f64, f64) = r
            .rows
            .iter()
            .filter_map(|r| r.diameter_after_gather.map(|a| (r.diameter, a)))
            .fold((0.0, 0.0), |(b, a), (rb, ra)| (b + rb, a + ra));
        println!("{attack}: diameter before gathers {before:.4}, after {after:.4}");
        assert!(after < 0.8 * before, "{attack}: {after} vs {before}");
    }
}

/// Every honest replica crashes at step 30 and restarts from its snapshot, one after the other,
/// with the Byzantine one silent: each needs the states of the others, which are rejoining too.
/// They answer each other with where they were restored, agree they are not behind, and go on.
/// (When rejoining replicas refused each other's requests, this waited forever.)
#[test]
fn replicas_restarted_together_answer_each_other() {
    for mode in ["async", "sync"] {
        let mut cfg = ClusterSpec {
            mode: mode.into(),
            server_attack: "silent".into(),
            ..base()
        };
        cfg.network.crashes = (0..4)
            .map(|s| {
                let after = 5.0 + s as f64;
                Crash::at(&format!("s{s}"), 30).restarting(after, RestartFrom::Snapshot)
            })
            .collect();
        let r = run(cfg, 1.0).unwrap_or_else(|e| panic!("{mode}: {e}"));
        println!("{mode}: {:?}", r.counts);
        assert_eq!(r.rows.len(), 60, "{mode}");
        assert!(distance_to_target(&r.final_params) < 1.0, "{mode}");
    }
}
