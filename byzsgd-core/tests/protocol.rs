//! The protocol state machines, tested by asserting on their actions, with no runtime at all;
//! and a whole cluster driven by a plain in-test queue on a toy quadratic.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;

use byzsgd_core::Exec;
use byzsgd_core::protocol::{
    Action, ClusterConfig, Event, FilterConfig, Message, Mode, Node, PlainSgd, Record, Refused,
    ServerCore, WorkerCore,
};
use byzsgd_core::registry;

fn cluster(gather_period: u64) -> ClusterConfig {
    common::cluster(Mode::Async, gather_period)
}

fn server(id: usize, c: ClusterConfig, params: Vec<f32>) -> ServerCore {
    let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
    ServerCore::new(id, c, params, rule, Box::new(PlainSgd { lr: 0.5 })).unwrap()
}

fn grad(step: u64, v: Vec<f32>) -> Message {
    Message::Gradient {
        step,
        grad: Arc::new(v),
    }
}

fn sends(actions: &[Action]) -> Vec<(Node, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.step())),
            _ => None,
        })
        .collect()
}

#[test]
fn server_aggregates_the_first_quorum_and_moves_on() {
    let c = cluster(100);
    let mut s = server(0, c, vec![1.0, 1.0]);
    let start = s.handle(Event::Start).unwrap();
    assert_eq!(
        sends(&start),
        (0..7).map(|w| (Node::Worker(w), 0)).collect::<Vec<_>>()
    );
    // Four of the q_w = 5 gradients: nothing yet. A duplicate and a late one are dropped.
    for w in 0..4 {
        assert!(
            sends(
                &s.handle(Event::Received {
                    from: Node::Worker(w),
                    msg: grad(0, vec![1.0, 1.0])
                })
                .unwrap()
            )
            .is_empty()
        );
    }
    let dup = s
        .handle(Event::Received {
            from: Node::Worker(3),
            msg: grad(0, vec![9.0, 9.0]),
        })
        .unwrap();
    assert!(
        matches!(&dup[0], Action::Record(Record::Dropped { reason, .. }) if *reason == Refused::Duplicate)
    );
    let nan = s
        .handle(Event::Received {
            from: Node::Worker(5),
            msg: grad(0, vec![f32::NAN, 0.0]),
        })
        .unwrap();
    assert!(matches!(
        &nan[0],
        Action::Record(Record::Dropped {
            reason: Refused::NotFinite,
            ..
        })
    ));
    // The fifth: aggregate (MDA of identical gradients = that gradient), update, next step.
    let done = s
        .handle(Event::Received {
            from: Node::Worker(6),
            msg: grad(0, vec![1.0, 1.0]),
        })
        .unwrap();
    assert!(
        matches!(&done[0], Action::Record(Record::Aggregated { step: 0, from, .. }) if from == &vec![0, 1, 2, 3, 6])
    );
    assert_eq!(
        sends(&done),
        (0..7).map(|w| (Node::Worker(w), 1)).collect::<Vec<_>>()
    );
    assert_eq!(s.params(), &[0.5, 0.5]);
    let late = s
        .handle(Event::Received {
            from: Node::Worker(4),
            msg: grad(0, vec![1.0, 1.0]),
        })
        .unwrap();
    assert!(matches!(
        &late[0],
        Action::Record(Record::Dropped {
            reason: Refused::Late,
            ..
        })
    ));
}

#[test]
fn server_gathers_every_t_steps_with_the_median_of_q_ps_models() {
    let c = cluster(1);
    let mut s = server(2, c, vec![0.0]);
    s.handle(Event::Start).unwrap();
    let mut last = Vec::new();
    for w in 0..5 {
        last = s
            .handle(Event::Received {
                from: Node::Worker(w),
                msg: grad(0, vec![-2.0]),
            })
            .unwrap();
    }
    // Updated to 1.0, then sent to the four other servers, not to workers yet.
    assert_eq!(s.params(), &[1.0]);
    assert_eq!(
        sends(&last),
        [0, 1, 3, 4]
            .iter()
            .map(|&i| (Node::Server(i), 0))
            .collect::<Vec<_>>()
    );
    // Own model counts: three more make q_ps = 4. Median of {1, 3, 5, 100} = 4.
    for (i, v) in [(0, 3.0), (1, 100.0)] {
        let out = s
            .handle(Event::Received {
                from: Node::Server(i),
                msg: Message::Model {
                    step: 0,
                    params: Arc::new(vec![v]),
                },
            })
            .unwrap();
        assert!(sends(&out).is_empty());
    }
    let out = s
        .handle(Event::Received {
            from: Node::Server(3),
            msg: Message::Model {
                step: 0,
                params: Arc::new(vec![5.0]),
            },
        })
        .unwrap();
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Record(Record::Gathered { step: 0, .. })))
    );
    assert_eq!(s.params(), &[4.0]);
    assert_eq!(
        sends(&out),
        (0..7).map(|w| (Node::Worker(w), 1)).collect::<Vec<_>>()
    );
}

#[test]
fn worker_computes_at_the_median_of_q_ps_models_and_sends_everywhere() {
    let c = cluster(10);
    let mut w = WorkerCore::new(3, c, 1, FilterConfig::new(0.1)).unwrap();
    let model = |v: f32| Message::Model {
        step: 0,
        params: Arc::new(vec![v]),
    };
    for (s, v) in [(0, 1.0), (1, 2.0), (4, -1e30)] {
        assert!(
            w.handle(Event::Received {
                from: Node::Server(s),
                msg: model(v)
            })
            .unwrap()
            .is_empty()
        );
    }
    let out = w
        .handle(Event::Received {
            from: Node::Server(2),
            msg: model(3.0),
        })
        .unwrap();
    // Median of {1, 2, -1e30, 3} (even: mean of the middle two) = 1.5.
    assert_eq!(
        out,
        vec![Action::ComputeGradient {
            step: 0,
            params: Arc::new(vec![1.5])
        }]
    );
    let out = w
        .handle(Event::GradientComputed {
            step: 0,
            grad: Arc::new(vec![0.25]),
            loss: 1.0,
        })
        .unwrap();
    assert_eq!(
        sends(&out),
        (0..5).map(|s| (Node::Server(s), 0)).collect::<Vec<_>>()
    );
    assert_eq!(w.step(), 1);
}

#[test]
fn bounds_are_checked_before_anything_starts() {
    let bad = ClusterConfig {
        n_ps: 4,
        ..cluster(1)
    };
    assert!(
        WorkerCore::new(0, bad, 1, FilterConfig::new(0.1))
            .unwrap_err()
            .to_string()
            .contains("3 f_ps + 2")
    );
    // Krum needs 2f+3 = 7 inputs; q_w = 5.
    let c = cluster(1);
    let krum = registry::build("krum", 7, 2, Exec::Auto).unwrap();
    let err = ServerCore::new(0, c, vec![0.0], krum, Box::new(PlainSgd { lr: 0.1 })).unwrap_err();
    assert!(err.to_string().contains("krum needs n >= 2f+3"), "{err}");
}

/// Five servers (one silent), seven workers (the first two sending huge gradients), FIFO. Workers
/// minimise 0.5 |θ - 3|² per coordinate; the honest servers must end near 3 and agree.
#[test]
fn a_whole_cluster_converges_on_a_quadratic_despite_byzantine_nodes() {
    let c = cluster(3);
    let dim = 4;
    let mut servers: Vec<ServerCore> = (0..4).map(|i| server(i, c, vec![0.0; dim])).collect();
    let mut workers: Vec<WorkerCore> = (0..7)
        .map(|i| WorkerCore::new(i, c, dim, FilterConfig::new(0.1)).unwrap())
        .collect();
    let mut queue: VecDeque<(Node, Node, Message)> = VecDeque::new();
    let push = |queue: &mut VecDeque<(Node, Node, Message)>,
                from: Node,
                actions: Vec<Action>,
                pending: &mut Vec<(usize, u64, Arc<Vec<f32>>)>| {
        for a in actions {
            match a {
                Action::Send { to, msg } => queue.push_back((from, to, msg)),
                Action::ComputeGradient { step, params } => {
                    if let Node::Worker(w) = from {
                        pending.push((w, step, params));
                    }
                }
                Action::Record(_) | Action::SetTimer(_) => {}
            }
        }
    };
    let mut pending = Vec::new();
    for (i, s) in servers.iter_mut().enumerate() {
        let out = s.handle(Event::Start).unwrap();
        push(&mut queue, Node::Server(i), out, &mut pending);
    }
    let mut delivered = 0;
    while delivered < 200_000 && (!queue.is_empty() || !pending.is_empty()) {
        if let Some((from, to, msg)) = queue.pop_front() {
            delivered += 1;
            match to {
                Node::Server(4) => {} // Byzantine and silent.
                Node::Server(i) => {
                    let out = servers[i].handle(Event::Received { from, msg }).unwrap();
                    push(&mut queue, to, out, &mut pending);
                }
                Node::Worker(i) => {
                    let out = workers[i].handle(Event::Received { from, msg }).unwrap();
                    push(&mut queue, to, out, &mut pending);
                }
            }
        }
        for (w, step, params) in std::mem::take(&mut pending) {
            // Workers 0 and 1 lie; FIFO delivery puts them in every quorum.
            let g: Vec<f32> = if w < 2 {
                vec![1e6; dim]
            } else {
                params.iter().map(|p| p - 3.0).collect()
            };
            let out = workers[w]
                .handle(Event::GradientComputed {
                    step,
                    grad: Arc::new(g),
                    loss: 0.0,
                })
                .unwrap();
            push(&mut queue, Node::Worker(w), out, &mut pending);
        }
        if servers.iter().all(|s| s.step() >= 60) {
            break;
        }
    }
    for s in &servers {
        assert!(s.step() >= 60, "server stalled at step {}", s.step());
        for p in s.params() {
            assert!((p - 3.0).abs() < 1e-3, "server at {p}, not near 3");
        }
    }
}
