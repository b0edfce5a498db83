//! Catch-up, vouching and snapshots in the protocol core, scripted: a replica that fell behind
//! adopts what its peers vouch for and no single liar moves it; a flood stays within the byte
//! budget; a node's state survives a round trip through serde.

mod common;

use std::sync::Arc;

use byzsgd_core::Exec;
use byzsgd_core::protocol::{
    Action, ClusterConfig, Event, FilterConfig, Message, Mode, Node, PlainSgd, Record, Refused,
    ServerCore, ServerSnapshot, Timer, WorkerCore, WorkerSnapshot,
};
use byzsgd_core::registry;

fn cluster(mode: Mode) -> ClusterConfig {
    common::cluster(mode, 3)
}

fn server(id: usize, mode: Mode, params: Vec<f32>) -> ServerCore {
    let c = cluster(mode);
    let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
    ServerCore::new(id, c, params, rule, Box::new(PlainSgd { lr: 0.5 })).unwrap()
}

fn state(s: usize, step: u64, gathering: bool, v: f32) -> Event {
    Event::Received {
        from: Node::Server(s),
        msg: Message::State {
            step,
            gathering,
            params: Arc::new(vec![v]),
        },
    }
}

fn model(s: usize, step: u64, v: Vec<f32>) -> Event {
    Event::Received {
        from: Node::Server(s),
        msg: Message::Model {
            step,
            params: Arc::new(v),
        },
    }
}

fn gradient(w: usize, step: u64, v: Vec<f32>) -> Event {
    Event::Received {
        from: Node::Worker(w),
        msg: Message::Gradient {
            step,
            grad: Arc::new(v),
        },
    }
}

fn sent(out: &[Action]) -> Vec<(Node, Message)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn caught_up(out: &[Action]) -> Option<(u64, u64)> {
    out.iter().find_map(|a| match a {
        Action::Record(Record::CaughtUp { from, to, .. }) => Some((*from, *to)),
        _ => None,
    })
}

#[test]
fn a_rejoining_replica_adopts_the_median_at_the_position_f_plus_one_vouch_for() {
    let mut s = server(0, Mode::Async, vec![0.0]).rejoining();
    let out = s.handle(Event::Start).unwrap();
    let asked: Vec<Node> = sent(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::CatchUp { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(asked, (1..5).map(Node::Server).collect::<Vec<_>>());
    // Nothing to workers while it is behind.
    assert!(
        sent(&out)
            .iter()
            .all(|(to, _)| matches!(to, Node::Server(_)))
    );
    // The Byzantine s4 claims u64::MAX with a far model; two honest peers are at step 50.
    assert!(
        s.handle(state(4, u64::MAX, true, 1000.0))
            .unwrap()
            .is_empty()
    );
    let again = s.handle(state(4, 7, false, 5.0)).unwrap();
    assert!(matches!(
        again[..],
        [Action::Record(Record::Dropped {
            reason: Refused::Duplicate,
            ..
        })]
    ));
    s.handle(state(1, 50, false, 1.0)).unwrap();
    let out = s.handle(state(2, 50, false, 2.0)).unwrap();
    // q_ps - 1 = 3 states: the 2nd highest position is (50, collecting); the median 2.
    assert_eq!(caught_up(&out), Some((0, 50)));
    assert_eq!((s.step(), s.params()), (50, &[2.0][..]));
    let msgs = sent(&out);
    assert!(msgs.contains(&(
        Node::Worker(0),
        Message::Model {
            step: 50,
            params: Arc::new(vec![2.0])
        }
    )));
    assert!(msgs.contains(&(Node::Worker(6), Message::Pull { step: 50 })));
}

/// A rejoining async replica that three peers tell they are in the gather of step 20 (median
/// model 2.0): it, and what it did on adopting.
fn caught_up_into_the_gather_of_20() -> (ServerCore, Vec<Action>) {
    let mut s = server(0, Mode::Async, vec![0.0]).rejoining();
    s.handle(Event::Start).unwrap();
    s.handle(state(1, 20, true, 1.0)).unwrap();
    s.handle(state(2, 20, true, 3.0)).unwrap();
    let out = s.handle(state(3, 20, true, 2.0)).unwrap();
    assert_eq!(caught_up(&out), Some((0, 20)));
    (s, out)
}

#[test]
fn a_replica_adopting_a_gather_sends_its_model_and_asks_for_the_others() {
    let (mut s, out) = caught_up_into_the_gather_of_20();
    let msgs = sent(&out);
    for p in 1..5 {
        assert!(msgs.contains(&(
            Node::Server(p),
            Message::Model {
                step: 20,
                params: Arc::new(vec![2.0])
            }
        )));
        assert!(msgs.contains(&(Node::Server(p), Message::Pull { step: 20 })));
    }
    // The others' gather models complete its gather.
    for p in 1..4 {
        s.handle(model(p, 20, vec![2.0])).unwrap();
    }
    assert_eq!(s.step(), 21);
}

/// A replica that caught up into a gather sets its stall timer for that step: when the gather's
/// models went by while it was away, the timer asks for them again and asks every replica where
/// it is. Without it (CI's netns run: s1 caught up into the gather of step 386, its peers had
/// moved on and a second catch-up lost two answers) it waited for ever: no timer of that step
/// existed, and only timers retry.
#[test]
fn a_replica_that_caught_up_into_a_gather_asks_again_when_it_stalls() {
    let (mut s, out) = caught_up_into_the_gather_of_20();
    let stall = Timer::Stall { step: 20 };
    assert!(
        out.contains(&Action::SetTimer(stall)),
        "no stall timer for the gather it caught up into: {out:?}"
    );
    // Nobody sends the gather's models; the timer fires: pulls and a catch-up go to the peers.
    let out = s.handle(Event::Timer(stall)).unwrap();
    let msgs = sent(&out);
    for p in 1..5 {
        assert!(
            msgs.contains(&(Node::Server(p), Message::Pull { step: 20 })),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&(Node::Server(p), Message::CatchUp { step: 20 })),
            "{msgs:?}"
        );
    }
    // Where the peers are now (step 40) moves it on.
    s.handle(state(1, 40, false, 1.0)).unwrap();
    s.handle(state(2, 40, false, 1.0)).unwrap();
    let out = s.handle(state(3, 40, false, 1.0)).unwrap();
    assert_eq!(caught_up(&out), Some((20, 40)));
}

#[test]
fn states_nobody_asked_for_and_one_liar_beyond_the_window_move_nothing() {
    let mut s = server(0, Mode::Async, vec![0.0]);
    s.handle(Event::Start).unwrap();
    let out = s.handle(state(4, 1000, false, 9.0)).unwrap();
    assert!(matches!(
        out[..],
        [Action::Record(Record::Dropped {
            reason: Refused::NotAsked,
            ..
        })]
    ));
    // One replica far ahead: no catch-up. Two (f_ps + 1): catch-up.
    let out = s.handle(model(4, 1000, vec![9.0])).unwrap();
    assert!(
        !sent(&out)
            .iter()
            .any(|(_, m)| matches!(m, Message::CatchUp { .. }))
    );
    let out = s.handle(model(3, 900, vec![9.0])).unwrap();
    assert_eq!(
        sent(&out)
            .iter()
            .filter(|(_, m)| matches!(m, Message::CatchUp { .. }))
            .count(),
        4
    );
    assert_eq!(s.params(), &[0.0]);
}

/// One worker floods every step ahead and `u64::MAX`, one replica the same with models: what the
/// server buffers stays within the window (8 steps ahead, 9 vectors per sender), and it trains
/// on.
#[test]
fn a_flood_stays_within_the_budget() {
    let mut s = server(0, Mode::Async, vec![0.0; 64]);
    s.handle(Event::Start).unwrap();
    for step in (0..10_000).chain([u64::MAX]) {
        s.handle(gradient(0, step, vec![1.0; 64])).unwrap();
        s.handle(model(4, step, vec![1.0; 64])).unwrap();
        s.handle(gradient(0, step, vec![1.0; 64])).unwrap();
    }
    assert!(s.buffered() <= 2 * 9, "{} vectors buffered", s.buffered());
    for w in 1..5 {
        s.handle(gradient(w, 0, vec![0.5; 64])).unwrap();
    }
    assert_eq!(s.step(), 1);
}

#[test]
fn a_sync_worker_follows_a_later_step_once_f_plus_one_servers_vouch() {
    let c = cluster(Mode::Sync);
    let mut w = WorkerCore::new(0, c, 1, FilterConfig::new(0.1)).unwrap();
    w.handle(Event::Start).unwrap();
    assert!(caught_up(&w.handle(model(3, 7, vec![1.0])).unwrap()).is_none());
    assert_eq!(w.step(), 0);
    let out = w.handle(model(1, 7, vec![1.0])).unwrap();
    assert_eq!(caught_up(&out), Some((0, 7)));
    assert_eq!(w.step(), 7);
    // Step 7 follows no gather (T = 3): one pull, to (0 + 7) mod 5 = 2.
    assert!(sent(&out).contains(&(Node::Server(2), Message::Pull { step: 7 })));
}

#[test]
fn snapshots_round_trip_through_serde() {
    let mut s = server(2, Mode::Async, vec![1.0, 2.0]);
    s.handle(Event::Start).unwrap();
    for w in 0..5 {
        s.handle(gradient(w, 0, vec![1.0, 1.0])).unwrap();
    }
    let snap = s.snapshot();
    assert_eq!(snap.step, 1);
    let json = serde_json::to_string(&snap).unwrap();
    let back: ServerSnapshot = serde_json::from_str(&json).unwrap();
    let restored = server(2, Mode::Async, vec![0.0, 0.0])
        .restore(back)
        .unwrap();
    assert_eq!(restored.snapshot(), snap);
    assert!(
        server(3, Mode::Async, vec![0.0, 0.0])
            .restore(snap)
            .is_err()
    );

    let c = cluster(Mode::Sync);
    let mut w = WorkerCore::new(1, c, 1, FilterConfig::new(0.1))
        .unwrap()
        .with_momentum(0.9);
    w.handle(Event::Start).unwrap();
    for s in 0..4 {
        w.handle(model(s, 0, vec![0.0])).unwrap();
    }
    w.handle(Event::GradientComputed {
        step: 0,
        grad: Arc::new(vec![1.0]),
        loss: 0.0,
    })
    .unwrap();
    let snap = w.snapshot();
    assert_eq!((snap.step, snap.velocity.as_deref()), (1, Some(&[1.0][..])));
    assert!(snap.filters.last.is_some());
    let back: WorkerSnapshot =
        serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
    let restored = WorkerCore::new(1, c, 1, FilterConfig::new(0.1))
        .unwrap()
        .restore(back)
        .unwrap();
    assert_eq!(restored.snapshot(), snap);
}

/// A snapshot whose filter history does not fit the model is refused, not restored into a
/// worker that would index out of bounds at its next check.
#[test]
fn a_worker_snapshot_with_a_short_filter_history_is_refused() {
    let c = cluster(Mode::Sync);
    let w = WorkerCore::new(1, c, 3, FilterConfig::new(0.1)).unwrap();
    let mut snap = w.snapshot();
    snap.filters.last = Some(byzsgd_core::protocol::Accepted {
        step: 4,
        theta: vec![0.0; 3],
        grad: vec![0.0; 3],
        sent: vec![0.0; 1],
    });
    let fresh = WorkerCore::new(1, c, 3, FilterConfig::new(0.1)).unwrap();
    assert!(fresh.restore(snap).is_err());
}
