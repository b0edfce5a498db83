//! Arbitrary configurations: resolving one never panics and never derives an absurd value, and
//! valid but harsh ones (tiny timeouts, heavy loss, large jitter, lost messages) run to the end.

mod common;

use byzsgd_core::node::ClusterSpec;
use byzsgd_core::protocol::MAX_GATHER_PERIOD;
use byzsgd_core::sim::Simulation;
use common::{base, quadratic};
use proptest::prelude::*;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(1e-30),
        Just(1e-300),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e300),
        0.0..2.0f64,
        any::<f64>(),
    ]
}

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX / 3),
        0..100u64,
        any::<u64>()
    ]
}

fn any_text(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(known).prop_map(str::to_string),
        "[a-z:0-9.]{0,12}",
    ]
}

prop_compose! {
    fn specs()(
        sizes in (0..12usize, 0..5usize, 0..16usize, 0..6usize),
        gather in proptest::option::of(any_u64()),
        (lipschitz, momentum, decay) in (any_f64(), any_f64(), any_f64()),
        (steps, batch, seed) in (any_u64(), 0..70usize, any_u64()),
        lr in any_text(&["0.1", "0", "1e-300", "nan", "step:0.1:0.5:0", "inverse:1:0", "1e300"]),
        mode in any_text(&["async", "sync", "vanilla"]),
        shard in any_text(&["iid", "dirichlet:0", "dirichlet:0.5", "dirichlet:nan"]),
        attacks in (
            any_text(&["alie", "flood", "equivocate:nan", "foe:inf"]),
            any_text(&["forge:18446744073709551615", "future:99999", "maxstep", "stale:0"]),
        ),
        timers in (any_f64(), any_f64(), any_f64()),
        net in (any_f64(), any_f64(), any_f64(), any_f64()),
    ) -> ClusterSpec {
        let mut s = ClusterSpec {
            servers: sizes.0,
            byz_servers: sizes.1,
            workers: sizes.2,
            byz_workers: sizes.3,
            gather_period: gather,
            lipschitz,
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn resolving_never_panics_nor_derives_absurd_values(spec in specs()) {
        if let Ok(cluster) = spec.resolve() {
            let c = cluster.shape();
            prop_assert!(c.gather_period <= MAX_GATHER_PERIOD);
            prop_assert!(c.q_w() >= 1 && c.q_ps() >= 1);
            prop_assert!(c.n_ps >= 3 * c.f_ps + 2 || c.f_ps == 0);
            // Every node builds.
            for s in 0..c.n_ps {
                prop_assert!(cluster.server(s, vec![0.0; 4]).is_ok());
            }
            for w in 0..c.n_w {
                prop_assert!(cluster.worker(w, 4).is_ok());
            }
        }
    }
}

/// Makes a configuration harsh.
type Harden = fn(&mut ClusterSpec);

/// Valid but harsh: each runs its 30 steps to the end, both modes.
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
