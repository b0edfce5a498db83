//! Random hostile traffic against one correct node, no runtime: arbitrary senders (in range,
//! out of range, itself), arbitrary steps (`0`, near the node's, far, `u64::MAX`), vectors of any
//! length holding NaN or huge values, every message kind, timers and reconnections in any order.
//! Nothing panics or errs, what the node buffers stays within its budget, what it sends per event
//! stays bounded, and it never adopts a step no correct node reached.

mod common;

use std::sync::Arc;

use byzsgd_core::Exec;
use byzsgd_core::protocol::{
    Action, ClusterConfig, Event, FilterConfig, Limits, Message, Mode, Node, PlainSgd, ServerCore,
    Timer, WorkerCore,
};
use byzsgd_core::registry;
use proptest::prelude::*;

const DIM: usize = 4;

fn cluster(mode: Mode) -> ClusterConfig {
    common::cluster(mode, 3)
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        (0..9usize).prop_map(Node::Server),
        (0..10usize).prop_map(Node::Worker),
        Just(Node::Worker(usize::MAX)),
    ]
}

fn step() -> impl Strategy<Value = u64> {
    prop_oneof![0..12u64, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

fn vector() -> impl Strategy<Value = Arc<Vec<f32>>> {
    prop_oneof![
        4 => proptest::collection::vec(-10.0f32..10.0, DIM),
        1 => proptest::collection::vec(any::<f32>(), 0..8),
        1 => Just(vec![f32::NAN; DIM]),
        1 => Just(vec![f32::MAX; DIM]),
    ]
    .prop_map(Arc::new)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (step(), vector()).prop_map(|(step, params)| Message::Model { step, params }),
        (step(), vector()).prop_map(|(step, grad)| Message::Gradient { step, grad }),
        step().prop_map(|step| Message::Pull { step }),
        step().prop_map(|step| Message::CatchUp { step }),
        (step(), any::<bool>(), vector()).prop_map(|(step, gathering, params)| {
            Message::State {
                step,
                gathering,
                params,
            }
        }),
    ]
}

fn timer() -> impl Strategy<Value = Timer> {
    prop_oneof![
        step().prop_map(|step| Timer::StepDeadline { step }),
        step().prop_map(|step| Timer::GatherDeadline { step }),
        step().prop_map(|step| Timer::Stall { step }),
        (step(), 0..6usize).prop_map(|(step, attempt)| Timer::PullTimeout { step, attempt }),
        (step(), any::<u32>()).prop_map(|(step, attempt)| Timer::QuorumTimeout { step, attempt }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (node(), message()).prop_map(|(from, msg)| Event::Received { from, msg }),
        1 => timer().prop_map(Event::Timer),
        1 => node().prop_map(|peer| Event::Connected { peer }),
        1 => (step(), vector()).prop_map(|(step, grad)| Event::GradientComputed {
            step,
            grad,
            loss: 0.0
        }),
    ]
}

/// Sends in one event's answer: bounded by a small multiple of the cluster (a step's
/// broadcasts, re-sends and a catch-up), never by what the peer sent.
const MAX_SENDS: usize = 4 * (5 + 7);

fn check(actions: &[Action]) -> Result<(), TestCaseError> {
    let sends = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count();
    prop_assert!(sends <= MAX_SENDS, "{sends} sends for one event");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_server_survives_any_traffic(
        sync in any::<bool>(),
        id in 0..5usize,
        events in proptest::collection::vec(event(), 0..300),
    ) {
        let mode = if sync { Mode::Sync } else { Mode::Async };
        let c = cluster(mode);
        let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
        let limits = Limits { window: 8, sender_bytes: 3 * DIM * 4 };
        let mut s = ServerCore::new(id, c, vec![0.0; DIM], rule, Box::new(PlainSgd { lr: 0.1 }))
            .unwrap()
            .with_limits(limits);
        check(&s.handle(Event::Start).unwrap())?;
        let mut highest_claim = 0u64;
        for e in events {
            if let Event::Received { msg, .. } = &e {
                highest_claim = highest_claim.max(msg.step());
            }
            let before = s.step();
            let out = s.handle(e).unwrap();
            check(&out)?;
            // Three vectors per sender at most, over 7 workers and 4 peers (and itself).
            prop_assert!(s.buffered() <= 3 * (7 + 5), "{} buffered", s.buffered());
            // It moves by one step at a time, or to a step some message named.
            prop_assert!(s.step() <= before.max(highest_claim).saturating_add(1));
        }
    }

    #[test]
    fn a_worker_survives_any_traffic(
        sync in any::<bool>(),
        id in 0..7usize,
        events in proptest::collection::vec(event(), 0..300),
    ) {
        let mode = if sync { Mode::Sync } else { Mode::Async };
        let mut w = WorkerCore::new(id, cluster(mode), DIM, FilterConfig::new(0.1))
            .unwrap()
            .with_momentum(0.9);
        check(&w.handle(Event::Start).unwrap())?;
        let mut claims = [0u64; 5];
        for e in events {
            if let Event::Received { from: Node::Server(s), msg: Message::Model { step, .. } } = &e
                && *s < 5
            {
                claims[*s] = claims[*s].max(*step);
            }
            let before = w.step();
            let out = w.handle(e).unwrap();
            check(&out)?;
            // A jump lands on a step that two (f_ps + 1) servers named.
            if w.step() > before.saturating_add(1) {
                let vouching = claims.iter().filter(|&&c| c >= w.step()).count();
                prop_assert!(vouching >= 2, "jumped to {} on {claims:?}", w.step());
            }
        }
    }
}
