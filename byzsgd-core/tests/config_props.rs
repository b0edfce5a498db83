//! Arbitrary configurations: resolving one never panics and never derives an absurd value, and
//! valid but harsh ones (tiny timeouts, heavy loss, large jitter, lost messages) run to the end.

mod common;

use byzsgd_core::node::ClusterSpec;
use byzsgd_core::protocol::MAX_GATHER_PERIOD;
use byzsgd_core::sim::Simulation;
use common::{base, quadratic};
use proptest::prelude::*;

/// Mostly a number in `lo..hi` (so that whole configurations are often valid and resolve), else
/// one of the values that broke things: 0, negatives, tiny, huge, NaN, infinite, any bits.
fn num(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        80 => lo..hi,
        1 => Just(0.0),
        1 => Just(-1.0),
        1 => Just(1e-30),
        1 => Just(1e-300),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(1e300),
        1 => any::<f64>(),
    ]
}

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1..100u64,
        1 => Just(0),
        1 => Just(u64::MAX),
        1 => Just(u64::MAX / 3),
        1 => any::<u64>(),
    ]
}

/// Mostly one of `valid`, else one of `tricky` or any short text.
fn any_text(
    valid: &'static [&'static str],
    tricky: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![
        40 => proptest::sample::select(valid).prop_map(str::to_string),
        1 => proptest::sample::select(tricky).prop_map(str::to_string),
        1 => "[a-z:0-9.]{0,12}",
    ]
}

prop_compose! {
    fn specs()(
        sizes in (0..12usize, 0..3usize, 0..16usize, 0..4usize),
        gather in proptest::option::of(any_u64()),
        (lipschitz, momentum, decay, slack) in
            (num(0.1, 10.0), num(0.0, 0.99), num(0.0, 0.01), num(1.0, 4.0)),
        (steps, batch, seed) in (any_u64(), 0..70usize, any_u64()),
        lr in any_text(&["0.1", "0.01", "1e-300"], &["0", "nan", "step:0.1:0.5:0", "inverse:1:0"]),
        mode in any_text(&["async", "sync"], &["vanilla", "fast"]),
        shard in any_text(&["iid", "dirichlet:0.5"], &["dirichlet:0", "dirichlet:nan"]),
        attacks in (
            any_text(&["alie", "flood", "equivocate"], &["equivocate:nan", "foe:inf"]),
            any_text(
                &["equivocate", "forge:18446744073709551615", "maxstep"],
                &["future:99999", "stale:x"],
            ),
        ),
        timers in (num(0.001, 50.0), num(0.001, 50.0), num(0.001, 50.0)),
        net in (num(0.0, 0.9), num(0.0, 10.0), num(0.0, 0.9), num(0.0, 5.0)),
    ) -> ClusterSpec {
        let mut s = ClusterSpec {
            servers: sizes.0,
            byz_servers: sizes.1,
            workers: sizes.2,
            byz_workers: sizes.3,
            gather_period: gather,
            lipschitz,
            lipschitz_slack: slack,
            momentum,
            weight_decay: decay,
            steps,
            batch,
            seed,
            lr,
            mode,
            shard,
            attack: attacks.0,
            server_attack: attacks.1,
            ..ClusterSpec::default()
        };
        (s.timers.step_deadline, s.timers.pull_timeout, s.timers.stall) = timers;
        (s.network.loss, s.network.jitter, s.network.loss_for_good, s.network.compute) = net;
        s
    }
}

/// 2000 arbitrary configurations: none panics; those that resolve (about a tenth; at least
/// 100, so that the property is about something) derive sane values and build every node.
/// Without the bound on the gather period (a Lipschitz estimate of 1e-30, a learning rate of
/// 1e-300 or a period of 2^64 − 1 given outright), it fails. (Its first version drew each field
/// from mostly invalid values: 2 configurations in 2000 resolved, and it could not fail.)
#[test]
fn resolving_never_panics_nor_derives_absurd_values() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(2000));
    let resolved = std::cell::Cell::new(0usize);
    runner
        .run(&specs(), |spec| {
            if let Ok(cluster) = spec.resolve() {
                resolved.set(resolved.get() + 1);
                let c = cluster.shape();
                prop_assert!(
                    c.gather_period <= MAX_GATHER_PERIOD,
                    "T = {}",
                    c.gather_period
                );
                prop_assert!(c.q_w() >= 1 && c.q_ps() >= 1);
                prop_assert!(c.n_ps >= 3 * c.f_ps + 2 || c.f_ps == 0);
                for s in 0..c.n_ps {
                    prop_assert!(cluster.server(s, vec![0.0; 4]).is_ok());
                }
                for w in 0..c.n_w {
                    prop_assert!(cluster.worker(w, 4).is_ok());
                }
            }
            Ok(())
        })
        .unwrap();
    println!("{} of 2000 configurations resolved", resolved.get());
    assert!(resolved.get() >= 100, "{} resolved", resolved.get());
}

/// Makes a configuration harsh.
type Harden = fn(&mut ClusterSpec);

/// Valid but harsh: each runs its 30 steps to the end, both modes. (With the reconnection
/// re-sends and the stall timers' requests both disabled, "lost for good" stalls.)
#[test]
fn harsh_but_valid_configurations_run_to_the_end() {
    let harsh: [(&str, Harden); 5] = [
        ("tiny timeouts", |s| {
            s.timers.step_deadline = 1e-3;
            s.timers.pull_timeout = 1e-3;
            s.timers.stall = 1e-3;
        }),
        ("heavy loss", |s| {
            s.network.loss = 0.9;
            s.network.rto = 0.5;
        }),
        ("large jitter", |s| s.network.jitter = 50.0),
        ("lost for good", |s| s.network.loss_for_good = 0.1),
        ("flooding liars", |s| {
            s.server_attack = "flood".into();
            s.attack = "flood".into();
        }),
    ];
    for mode in ["async", "sync"] {
        for (what, harden) in harsh {
            let mut spec = ClusterSpec {
                mode: mode.into(),
                steps: 30,
                ..base()
            };
            harden(&mut spec);
            let cluster = spec.resolve().unwrap();
            let r = Simulation::new(cluster, quadratic(8, 1.0))
                .run(&mut |_| {})
                .unwrap_or_else(|e| panic!("{mode}, {what}: {e}"));
            println!("{mode}, {what}: {:?}", r.counts);
            assert_eq!(r.rows.len(), 30, "{mode}, {what}");
        }
    }
}
