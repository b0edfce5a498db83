//! The protocol core against a scripted hostile peer, no runtime: forged and `u64::MAX` steps,
//! spoofed ids, pull floods, a replica's own model crowded out of its gather, replayed models.
//! Each test here failed on the core before issue 10's hardening (commit message of the change
//! says how each failed); they use only what that core had, so they can be run against it.

mod common;

use std::sync::Arc;

use byzsgd_core::Exec;
use byzsgd_core::protocol::{
    Action, ClusterConfig, Event, Filter, FilterConfig, Message, Mode, Node, PlainSgd, Record,
    ServerCore, Timer, WorkerCore,
};
use byzsgd_core::registry;
use common::cluster;

fn server(id: usize, c: ClusterConfig, params: Vec<f32>) -> ServerCore {
    let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
    ServerCore::new(id, c, params, rule, Box::new(PlainSgd { lr: 0.5 })).unwrap()
}

fn from(node: Node, msg: Message) -> Event {
    Event::Received { from: node, msg }
}

fn model(s: usize, step: u64, v: Vec<f32>) -> Event {
    from(
        Node::Server(s),
        Message::Model {
            step,
            params: Arc::new(v),
        },
    )
}

fn gradient(w: usize, step: u64, v: Vec<f32>) -> Event {
    from(
        Node::Worker(w),
        Message::Gradient {
            step,
            grad: Arc::new(v),
        },
    )
}

fn computed(step: u64, g: Vec<f32>) -> Event {
    Event::GradientComputed {
        step,
        grad: Arc::new(g),
        loss: 0.0,
    }
}

fn compute_at(out: &[Action]) -> Option<(u64, Vec<f32>)> {
    out.iter().find_map(|a| match a {
        Action::ComputeGradient { step, params } => Some((*step, params.to_vec())),
        _ => None,
    })
}

fn pulls(out: &[Action]) -> Vec<(usize, u64)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send {
                to: Node::Server(s),
                msg: Message::Pull { step },
            } => Some((*s, *step)),
            _ => None,
        })
        .collect()
}

fn replies(out: &[Action]) -> usize {
    out.iter()
        .filter(|a| {
            matches!(
                a,
                Action::Send {
                    to: Node::Worker(_),
                    msg: Message::Model { .. }
                }
            )
        })
        .count()
}

fn aggregated(out: &[Action]) -> bool {
    out.iter()
        .any(|a| matches!(a, Action::Record(Record::Aggregated { .. })))
}

/// A synchronous worker taken past step 0 (pull from all, median of q_ps) to step 1, where it
/// pulls from one server; returns that server.
fn sync_worker_at_step_one() -> (WorkerCore, usize) {
    let c = cluster(Mode::Sync, 10);
    let mut w = WorkerCore::new(0, c, 2, FilterConfig::new(0.1)).unwrap();
    w.handle(Event::Start).unwrap();
    for s in 0..4 {
        w.handle(model(s, 0, vec![0.0, 0.0])).unwrap();
    }
    let out = w.handle(computed(0, vec![1.0, 1.0])).unwrap();
    let asked = pulls(&out);
    assert_eq!(asked.len(), 1, "{out:?}");
    assert_eq!(w.step(), 1);
    (w, asked[0].0)
}

/// Before: the worker jumped to any later step one server named, the server it had asked then
/// answered for step 1 (dropped as late), and it waited forever.
#[test]
fn one_server_forging_a_later_step_does_not_move_a_sync_worker() {
    let (mut w, asked) = sync_worker_at_step_one();
    let liar = (0..5).find(|&s| s != asked).unwrap();
    w.handle(model(liar, 1_000, vec![7.0, 7.0])).unwrap();
    assert_eq!(w.step(), 1, "one replica's step number moved the worker");
    let out = w.handle(model(asked, 1, vec![-0.1, -0.1])).unwrap();
    assert_eq!(compute_at(&out), Some((1, vec![-0.1, -0.1])));
}

/// Before: the asked server's `u64::MAX` reply was taken, and `step += 1` overflowed (a panic in
/// debug builds, a silent wrap to step 0 in release).
#[test]
fn u64_max_steps_neither_panic_nor_move_a_node() {
    let (mut w, asked) = sync_worker_at_step_one();
    let out = w.handle(model(asked, u64::MAX, vec![0.0, 0.0])).unwrap();
    assert_eq!(w.step(), 1);
    if let Some((step, _)) = compute_at(&out) {
        let out = w.handle(computed(step, vec![1.0, 1.0])).unwrap();
        assert!(compute_at(&out).is_none());
    }
    assert_eq!(w.step(), 1);
    // A server: gradients, models and pulls tagged u64::MAX change nothing.
    for mode in [Mode::Async, Mode::Sync] {
        let mut s = server(0, cluster(mode, 3), vec![1.0]);
        s.handle(Event::Start).unwrap();
        for w in 0..7 {
            s.handle(gradient(w, u64::MAX, vec![1.0])).unwrap();
            s.handle(from(Node::Worker(w), Message::Pull { step: u64::MAX }))
                .unwrap();
        }
        s.handle(model(4, u64::MAX, vec![1.0])).unwrap();
        assert_eq!(s.step(), 0, "{mode}");
    }
}

/// Before: gradients from `Worker(7)` (of 7 workers) counted toward the quorum.
#[test]
fn spoofed_sender_ids_count_toward_no_quorum() {
    let c = cluster(Mode::Async, 100);
    let mut s = server(0, c, vec![1.0]);
    s.handle(Event::Start).unwrap();
    for w in 0..4 {
        assert!(!aggregated(&s.handle(gradient(w, 0, vec![1.0])).unwrap()));
    }
    for spoof in [7, 8, usize::MAX] {
        let out = s.handle(gradient(spoof, 0, vec![1.0])).unwrap();
        assert!(!aggregated(&out), "Worker({spoof}) completed the quorum");
    }
    assert!(aggregated(&s.handle(gradient(4, 0, vec![1.0])).unwrap()));
    // A gather: models under its own id and ids beyond n_ps, sent before it updated, count for
    // nothing: it ends exactly where a twin that never saw them ends.
    let c = cluster(Mode::Async, 1);
    let (mut s, mut twin) = (server(0, c, vec![1.0]), server(0, c, vec![1.0]));
    s.handle(Event::Start).unwrap();
    twin.handle(Event::Start).unwrap();
    for spoof in [0, 5, 9] {
        s.handle(model(spoof, 0, vec![9.0])).unwrap();
    }
    for node in [&mut s, &mut twin] {
        for w in 0..5 {
            node.handle(gradient(w, 0, vec![1.0])).unwrap();
        }
        node.handle(model(1, 0, vec![0.0])).unwrap();
        node.handle(model(2, 0, vec![10.0])).unwrap();
        assert_eq!(node.step(), 0, "spoofed models completed the gather");
        node.handle(model(3, 0, vec![20.0])).unwrap();
        assert_eq!(node.step(), 1);
    }
    assert_eq!(s.params(), twin.params());
}

/// Before: every pull for a past or current step got a whole model back.
#[test]
fn a_pull_flood_gets_one_reply_per_step() {
    let c = cluster(Mode::Sync, 10);
    let mut s = server(0, c, vec![1.0; 1000]);
    s.handle(Event::Start).unwrap();
    let mut sent = 0;
    for _ in 0..1000 {
        let out = s
            .handle(from(Node::Worker(3), Message::Pull { step: 0 }))
            .unwrap();
        sent += replies(&out);
    }
    assert_eq!(sent, 1, "1000 pulls of step 0");
}

/// Before: the first `q_ps` models to arrive made the gather, its own one included or not.
#[test]
fn a_replica_gathers_its_own_model_and_the_first_q_minus_one_others() {
    let c = cluster(Mode::Async, 1);
    let mut s = server(0, c, vec![1.0]);
    s.handle(Event::Start).unwrap();
    // The four peers' models arrive before this replica has updated.
    for p in 1..5 {
        s.handle(model(p, 0, vec![10.0 * p as f32])).unwrap();
    }
    let mut out = Vec::new();
    for w in 0..5 {
        out = s.handle(gradient(w, 0, vec![0.0])).unwrap();
    }
    let gathered = out.iter().find_map(|a| match a {
        Action::Record(Record::Gathered { from, .. }) => Some(from.clone()),
        _ => None,
    });
    assert_eq!(gathered, Some(vec![0, 1, 2, 3]));
    // The median of {1, 10, 20, 30}: 15 (its own model pulls it down from 25).
    assert_eq!(s.params(), &[15.0]);
}

/// Before: a reply equal to the worker's previous model passed both filters (the Lipschitz
/// filter accepted a model that did not move): a `stale:1` replica's replay went through.
#[test]
fn a_replayed_model_is_rejected_as_stale() {
    let (mut w, asked) = sync_worker_at_step_one();
    // Step 0's model (the median the worker used) comes back as step 1's: rejected before any
    // gradient is computed there.
    let out = w.handle(model(asked, 1, vec![0.0, 0.0])).unwrap();
    assert!(compute_at(&out).is_none());
    let rejected = out.iter().find_map(|a| match a {
        Action::Record(Record::Rejected { filter, .. }) => Some(*filter),
        _ => None,
    });
    assert_eq!(rejected, Some(Filter::Stale));
    assert_eq!(pulls(&out), vec![((asked + 1) % 5, 1)]);
}

/// Before: a worker waiting for a quorum of models after pulling from every server had no
/// deadline: the pulls lost, it waited forever.
#[test]
fn a_sync_worker_pulling_from_all_asks_again_those_that_did_not_answer() {
    let c = cluster(Mode::Sync, 10);
    let mut w = WorkerCore::new(0, c, 1, FilterConfig::new(0.1)).unwrap();
    let out = w.handle(Event::Start).unwrap();
    assert_eq!(pulls(&out).len(), 5);
    let timer = out.iter().find_map(|a| match a {
        Action::SetTimer(t) => Some(*t),
        _ => None,
    });
    let timer = timer.expect("a deadline on the pull from every server");
    w.handle(model(1, 0, vec![0.0])).unwrap();
    let out = w.handle(Event::Timer(timer)).unwrap();
    let again: Vec<usize> = pulls(&out).into_iter().map(|(s, _)| s).collect();
    assert_eq!(again, vec![0, 2, 3, 4]);
}

/// Before: a synchronous replica waited for its gather without a deadline.
#[test]
fn a_sync_gather_has_a_deadline() {
    let c = cluster(Mode::Sync, 1);
    let mut s = server(0, c, vec![1.0]);
    s.handle(Event::Start).unwrap();
    let mut out = Vec::new();
    for w in 0..7 {
        out = s.handle(gradient(w, 0, vec![0.0])).unwrap();
    }
    let deadline = out.iter().find_map(|a| match a {
        Action::SetTimer(t @ Timer::GatherDeadline { .. }) => Some(*t),
        _ => None,
    });
    let out = s
        .handle(Event::Timer(deadline.expect("a gather deadline")))
        .unwrap();
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Record(Record::GatherSkipped { .. })))
    );
    assert_eq!(s.step(), 1);
}

/// Three servers time out and the two that answer are rejected: the median of two replies could
/// be a Byzantine one's (or halfway to it), so the worker pulls from everyone instead of
/// computing there.
#[test]
fn too_few_rejected_replies_are_not_a_median() {
    let (mut w, first) = sync_worker_at_step_one();
    let mut asked = first;
    let mut out = Vec::new();
    for attempt in 0..5 {
        out = if attempt < 3 {
            let timeout = Timer::PullTimeout { step: 1, attempt };
            w.handle(Event::Timer(timeout)).unwrap()
        } else {
            // Far models: the distance filter rejects them before any gradient.
            w.handle(model(asked, 1, vec![500.0, 500.0])).unwrap()
        };
        assert!(compute_at(&out).is_none(), "attempt {attempt}");
        if attempt < 4 {
            asked = pulls(&out)[0].0;
        }
    }
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Record(Record::AllRejected { .. })))
    );
    // It asks again the three that timed out, and waits for a quorum with the two it has.
    assert_eq!(pulls(&out).len(), 3, "{out:?}");
    let timer = out.iter().find_map(|a| match a {
        Action::SetTimer(t @ Timer::QuorumTimeout { .. }) => Some(*t),
        _ => None,
    });
    assert_eq!(
        timer,
        Some(Timer::QuorumTimeout {
            step: 1,
            attempt: 0
        })
    );
    // A correct replica answers late: three models, a median with a correct majority.
    let late = pulls(&out)[0].0;
    let out = w.handle(model(late, 1, vec![-0.1, -0.1])).unwrap();
    assert!(
        compute_at(&out).is_none(),
        "waits for q_ps = 4 or the timeout"
    );
    let out = w
        .handle(Event::Timer(Timer::QuorumTimeout {
            step: 1,
            attempt: 0,
        }))
        .unwrap();
    assert_eq!(compute_at(&out).map(|(s, _)| s), Some(1));
}

/// A Byzantine replica that answers a pull-from-everyone at once while the correct ones wait out
/// their step deadline is never the median alone, however many timeouts pass (19fe55b took
/// the median of any reply after a second timeout: this test failed there).
#[test]
fn one_fast_byzantine_reply_is_never_the_median() {
    let c = cluster(Mode::Sync, 10);
    let mut w = WorkerCore::new(0, c, 2, FilterConfig::new(0.1)).unwrap();
    w.handle(Event::Start).unwrap();
    w.handle(model(4, 0, vec![666.0, 666.0])).unwrap();
    for attempt in 0..6 {
        let out = w
            .handle(Event::Timer(Timer::QuorumTimeout { step: 0, attempt }))
            .unwrap();
        assert!(compute_at(&out).is_none(), "timeout {attempt}: {out:?}");
    }
    // The correct replicas answer at last: the median of the four is theirs.
    w.handle(model(0, 0, vec![0.0, 0.0])).unwrap();
    w.handle(model(1, 0, vec![0.0, 0.0])).unwrap();
    let out = w.handle(model(2, 0, vec![0.0, 0.0])).unwrap();
    assert_eq!(compute_at(&out), Some((0, vec![0.0, 0.0])));
}
