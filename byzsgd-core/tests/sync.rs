//! Synchronous ByzSGD, by assertions on actions: one server per pull, the Lipschitz and distance
//! filters rejecting a Byzantine server's reply, pull timeouts, the median fallback, and servers
//! that aggregate at a deadline; then a whole synchronous cluster with a Byzantine server.

use std::collections::VecDeque;
use std::sync::Arc;

use byzsgd_core::Exec;
use byzsgd_core::attacks::ReverseModel;
use byzsgd_core::protocol::{
    Action, ByzantineServer, ClusterConfig, Event, Filter, FilterConfig, Message, Mode, Node,
    PlainSgd, Record, ServerCore, Timer, WorkerCore,
};
use byzsgd_core::registry;

fn cluster(f_w: usize, gather_period: u64) -> ClusterConfig {
    ClusterConfig {
        n_ps: 5,
        f_ps: 1,
        n_w: 3 * f_w + 1,
        f_w,
        gather_period,
        mode: Mode::Sync,
    }
}

fn model(from: usize, step: u64, v: Vec<f32>) -> Event {
    Event::Received {
        from: Node::Server(from),
        msg: Message::Model {
            step,
            params: Arc::new(v),
        },
    }
}

fn computed(step: u64, g: Vec<f32>) -> Event {
    Event::GradientComputed {
        step,
        grad: Arc::new(g),
        loss: 0.0,
    }
}

fn pulls(actions: &[Action]) -> Vec<usize> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to: Node::Server(s),
                msg: Message::Pull { .. },
            } => Some(*s),
            _ => None,
        })
        .collect()
}

fn compute_at(actions: &[Action]) -> Option<Vec<f32>> {
    actions.iter().find_map(|a| match a {
        Action::ComputeGradient { params, .. } => Some(params.to_vec()),
        _ => None,
    })
}

fn rejected(actions: &[Action]) -> Option<(usize, Filter)> {
    actions.iter().find_map(|a| match a {
        Action::Record(Record::Rejected { server, filter, .. }) => Some((*server, *filter)),
        _ => None,
    })
}

fn sent_gradient(actions: &[Action]) -> bool {
    actions.iter().any(|a| {
        matches!(
            a,
            Action::Send {
                msg: Message::Gradient { .. },
                ..
            }
        )
    })
}

/// Step 0 pulls from everyone and takes the median of q_ps = 4 models; returns the worker at step 1.
fn past_step_zero(w: &mut WorkerCore, theta0: Vec<f32>, g0: Vec<f32>) -> Vec<Action> {
    let start = w.handle(Event::Start).unwrap();
    assert_eq!(pulls(&start), vec![0, 1, 2, 3, 4]);
    for s in 0..3 {
        assert!(compute_at(&w.handle(model(s, 0, theta0.clone())).unwrap()).is_none());
    }
    let out = w.handle(model(3, 0, theta0.clone())).unwrap();
    assert_eq!(compute_at(&out), Some(theta0));
    let out = w.handle(computed(0, g0)).unwrap();
    assert!(sent_gradient(&out));
    out
}

#[test]
fn the_distance_filter_rejects_a_far_model_and_the_next_server_is_asked() {
    let c = cluster(2, 10);
    let mut w = WorkerCore::new(0, c, 2, FilterConfig::new(0.1)).unwrap();
    let out = past_step_zero(&mut w, vec![0.0, 0.0], vec![1.0, 1.0]);
    // Step 1: one pull, to server (i + t) mod n_ps = 1, with a timeout.
    assert_eq!(pulls(&out), vec![1]);
    assert!(out.contains(&Action::SetTimer(Timer::PullTimeout {
        step: 1,
        attempt: 0
    })));
    // Server 1 is Byzantine: a model 141 away from where this worker expects one. The bound is
    // η‖g‖ (3T+2)(n_w−f_w)/(4 f_w) = 0.1 · √2 · 20 ≈ 2.83. Rejected before a gradient is
    // computed there.
    let out = w.handle(model(1, 1, vec![100.0, 100.0])).unwrap();
    assert_eq!(compute_at(&out), None);
    assert_eq!(rejected(&out), Some((1, Filter::Distance)));
    assert!(!sent_gradient(&out));
    assert_eq!(pulls(&out), vec![2]);
    // Server 2 replies with the model the worker expects (θ − η g): accepted and sent.
    let out = w.handle(model(2, 1, vec![-0.1, -0.1])).unwrap();
    assert_eq!(compute_at(&out), Some(vec![-0.1, -0.1]));
    let out = w.handle(computed(1, vec![0.9, 0.9])).unwrap();
    assert_eq!(rejected(&out), None);
    assert!(sent_gradient(&out));
    assert_eq!(w.step(), 2);
}

#[test]
fn the_lipschitz_filter_rejects_a_gradient_jump_once_warm() {
    // f_w = 0: the distance filter is off, the Lipschitz filter alone decides.
    let c = cluster(0, 1000);
    let mut w = WorkerCore::new(0, c, 2, FilterConfig::new(0.1)).unwrap();
    let theta = |t: u64| vec![t as f32 * 0.01, 0.0];
    let grad = |th: &[f32]| th.iter().map(|x| 2.0 * x).collect::<Vec<f32>>(); // k = 2
    let mut out = past_step_zero(&mut w, theta(0), grad(&theta(0)));
    for t in 1..=11u64 {
        let asked = pulls(&out)[0];
        assert_eq!(asked, t as usize % 5);
        let reply = w.handle(model(asked, t, theta(t))).unwrap();
        assert!(compute_at(&reply).is_some());
        out = w.handle(computed(t, grad(&theta(t)))).unwrap();
        assert_eq!(rejected(&out), None, "step {t}");
    }
    // Ten k = 2 values are known: a reply whose gradient jumps (k = 1000) is rejected.
    let t = 12;
    let asked = pulls(&out)[0];
    w.handle(model(asked, t, theta(t))).unwrap();
    let out = w.handle(computed(t, vec![10.0, 0.0])).unwrap();
    let (server, filter) = rejected(&out).expect("rejected");
    assert_eq!((server, filter), (asked, Filter::Lipschitz));
    let next = pulls(&out)[0];
    assert_eq!(next, (asked + 1) % 5);
    w.handle(model(next, t, theta(t))).unwrap();
    let out = w.handle(computed(t, grad(&theta(t)))).unwrap();
    assert_eq!(rejected(&out), None);
    assert!(sent_gradient(&out));
}

#[test]
fn a_silent_server_times_out_and_all_rejected_falls_back_to_the_median() {
    let c = cluster(2, 10);
    let mut w = WorkerCore::new(0, c, 1, FilterConfig::new(0.1)).unwrap();
    past_step_zero(&mut w, vec![0.0], vec![1.0]);
    // Server 1 never answers.
    let out = w
        .handle(Event::Timer(Timer::PullTimeout {
            step: 1,
            attempt: 0,
        }))
        .unwrap();
    assert_eq!(rejected(&out), Some((1, Filter::Timeout)));
    assert_eq!(pulls(&out), vec![2]);
    // Servers 2, 3, 4, 0 all reply with far models: each rejected by the distance filter.
    let far = [50.0, 60.0, -70.0, 80.0];
    for (attempt, v) in (1..5).zip(far) {
        let s = (1 + attempt) % 5;
        let out = w.handle(model(s, 1, vec![v])).unwrap();
        assert_eq!(rejected(&out), Some((s, Filter::Distance)));
        if attempt < 4 {
            assert_eq!(pulls(&out), vec![(s + 1) % 5]);
        } else {
            // Every server asked: the median of the four replies, recorded, then sent unfiltered.
            assert!(out.contains(&Action::Record(Record::AllRejected { step: 1 })));
            assert_eq!(compute_at(&out), Some(vec![55.0]));
        }
    }
    let out = w.handle(computed(1, vec![1.0])).unwrap();
    assert!(sent_gradient(&out));
}

fn sync_server(c: ClusterConfig) -> ServerCore {
    let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
    ServerCore::new(0, c, vec![1.0], rule, Box::new(PlainSgd { lr: 0.5 })).unwrap()
}

fn gradient_from(w: usize, step: u64, v: f32) -> Event {
    Event::Received {
        from: Node::Worker(w),
        msg: Message::Gradient {
            step,
            grad: Arc::new(vec![v]),
        },
    }
}

#[test]
fn a_sync_server_answers_pulls_and_aggregates_at_its_deadline() {
    let c = cluster(2, 100);
    let mut s = sync_server(c);
    let start = s.handle(Event::Start).unwrap();
    assert_eq!(
        start,
        vec![Action::SetTimer(Timer::StepDeadline { step: 0 })]
    );
    let pull = |w: usize, step: u64| Event::Received {
        from: Node::Worker(w),
        msg: Message::Pull { step },
    };
    let out = s.handle(pull(3, 0)).unwrap();
    assert!(matches!(
        &out[..],
        [Action::Send { to: Node::Worker(3), msg: Message::Model { step: 0, params } }] if params[..] == [1.0]
    ));
    // A pull for step 1 waits until the server gets there.
    assert!(s.handle(pull(4, 1)).unwrap().is_empty());
    // Four gradients, then the deadline: MDA with f = 2 needs 5, so the update is skipped.
    for w in 0..4 {
        assert!(s.handle(gradient_from(w, 0, 1.0)).unwrap().is_empty());
    }
    let out = s
        .handle(Event::Timer(Timer::StepDeadline { step: 0 }))
        .unwrap();
    assert!(out.contains(&Action::Record(Record::Skipped {
        step: 0,
        got: 4,
        needed: 5
    })));
    assert_eq!(s.step(), 1);
    assert_eq!(s.params(), &[1.0]);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Send {
            to: Node::Worker(4),
            msg: Message::Model { step: 1, .. }
        }
    )));
    // All seven gradients of step 1: aggregated at once, no deadline needed.
    for w in 0..7 {
        s.handle(gradient_from(w, 1, 1.0)).unwrap();
    }
    assert_eq!(s.step(), 2);
    assert_eq!(s.params(), &[0.5]);
}

/// Five servers, the last Byzantine (it sends −θ), seven honest workers on 0.5|θ − 3|²; FIFO
/// delivery, timers fire when nothing else is left. Workers asked by the Byzantine server reject
/// its replies, and the honest servers converge.
#[test]
fn a_sync_cluster_rejects_a_byzantine_server_and_converges() {
    let c = cluster(2, 5);
    let dim = 3;
    let lr = 0.2;
    let mk = |i: usize| {
        let rule = registry::build("mda", c.q_w(), c.f_w, Exec::Auto).unwrap();
        ServerCore::new(i, c, vec![0.0; dim], rule, Box::new(PlainSgd { lr })).unwrap()
    };
    let mut honest: Vec<ServerCore> = (0..4).map(mk).collect();
    let mut byz = ByzantineServer::new(mk(4), Box::new(ReverseModel), 7);
    let mut workers: Vec<WorkerCore> = (0..7)
        .map(|i| WorkerCore::new(i, c, dim, FilterConfig::new(lr as f64)).unwrap())
        .collect();
    let mut queue: VecDeque<(Node, Node, Message)> = VecDeque::new();
    let mut timers: VecDeque<(Node, Timer)> = VecDeque::new();
    let mut computes: VecDeque<(usize, u64, Arc<Vec<f32>>)> = VecDeque::new();
    let mut rejections = Vec::new();
    let mut route = |from: Node,
                     actions: Vec<Action>,
                     queue: &mut VecDeque<(Node, Node, Message)>,
                     timers: &mut VecDeque<(Node, Timer)>,
                     computes: &mut VecDeque<(usize, u64, Arc<Vec<f32>>)>| {
        for a in actions {
            match a {
                Action::Send { to, msg } => queue.push_back((from, to, msg)),
                Action::SetTimer(t) => timers.push_back((from, t)),
                Action::ComputeGradient { step, params } => {
                    if let Node::Worker(w) = from {
                        computes.push_back((w, step, params));
                    }
                }
                Action::Record(Record::Rejected { server, filter, .. }) => {
                    rejections.push((server, filter))
                }
                Action::Record(_) => {}
            }
        }
    };
    let handle = |node: Node,
                  e: Event,
                  honest: &mut Vec<ServerCore>,
                  byz: &mut ByzantineServer,
                  workers: &mut Vec<WorkerCore>| match node {
        Node::Server(4) => byz.handle(e).unwrap(),
        Node::Server(i) => honest[i].handle(e).unwrap(),
        Node::Worker(i) => workers[i].handle(e).unwrap(),
    };
    let nodes: Vec<Node> = (0..5)
        .map(Node::Server)
        .chain((0..7).map(Node::Worker))
        .collect();
    for &n in &nodes {
        let out = handle(n, Event::Start, &mut honest, &mut byz, &mut workers);
        route(n, out, &mut queue, &mut timers, &mut computes);
    }
    for _ in 0..2_000_000 {
        if honest.iter().all(|s| s.step() >= 40) {
            break;
        }
        let (node, event) = if let Some((w, step, params)) = computes.pop_front() {
            let g = params.iter().map(|p| p - 3.0).collect();
            (Node::Worker(w), computed(step, g))
        } else if let Some((from, to, msg)) = queue.pop_front() {
            (to, Event::Received { from, msg })
        } else if let Some((node, t)) = timers.pop_front() {
            (node, Event::Timer(t))
        } else {
            break;
        };
        let out = handle(node, event, &mut honest, &mut byz, &mut workers);
        route(node, out, &mut queue, &mut timers, &mut computes);
    }
    for s in &honest {
        assert!(s.step() >= 40, "server stalled at step {}", s.step());
        for p in s.params() {
            assert!((p - 3.0).abs() < 0.05, "server at {p}, not near 3");
        }
    }
    assert!(
        rejections
            .iter()
            .any(|&(s, f)| s == 4 && f == Filter::Distance),
        "the Byzantine server's replies were never rejected: {rejections:?}"
    );
    assert!(
        rejections.iter().all(|&(s, _)| s == 4),
        "an honest server was rejected: {rejections:?}"
    );
}
