//! The node layer with no runtime: a worker's momentum lives in the worker, a Byzantine worker's
//! wrapper replaces what it sends, and the cluster builds each node from one spec.

use std::sync::Arc;

use byzsgd_core::node::{ClusterSpec, ServerNode, WorkerNode};
use byzsgd_core::protocol::{Action, Event, Message, Node, Record, Vector};

fn spec() -> ClusterSpec {
    ClusterSpec {
        gather_period: Some(100),
        ..ClusterSpec::default()
    }
}

/// Delivers step `step`'s model from every server, then the gradient `g`; returns the vectors
/// the worker sends (one per server) and its loss record.
fn step(w: &mut WorkerNode, step: u64, g: Vec<f32>) -> (Vec<Vector>, Option<f32>) {
    for s in 0..5 {
        let msg = Message::Model {
            step,
            params: Arc::new(vec![0.0; 3]),
        };
        w.handle(Event::Received {
            from: Node::Server(s),
            msg,
        })
        .unwrap();
    }
    let out = w
        .handle(Event::GradientComputed {
            step,
            grad: Arc::new(g),
            loss: 0.5,
        })
        .unwrap();
    let mut sent = Vec::new();
    let mut loss = None;
    for a in out {
        match a {
            Action::Send {
                msg: Message::Gradient { grad, .. },
                ..
            } => sent.push(grad),
            Action::Record(Record::Loss { loss: l, .. }) => loss = Some(l),
            _ => {}
        }
    }
    (sent, loss)
}

#[test]
fn a_worker_sends_its_velocity_and_zero_momentum_is_the_papers_algorithm() {
    let cluster = ClusterSpec {
        momentum: 0.5,
        ..spec()
    }
    .resolve()
    .unwrap();
    let mut w = cluster.worker(4, 3).unwrap();
    assert!(
        matches!(w, WorkerNode::Honest(_)),
        "worker 4 of f_w = 2 is honest"
    );
    let (first, loss) = step(&mut w, 0, vec![2.0, 4.0, -2.0]);
    assert_eq!(first.len(), 5, "to every server");
    assert_eq!(*first[0], vec![2.0, 4.0, -2.0], "the velocity starts at g");
    assert_eq!(
        loss,
        Some(0.5),
        "the loss is the gradient's, not the velocity's"
    );
    let (second, _) = step(&mut w, 1, vec![0.0, 0.0, 2.0]);
    assert_eq!(*second[0], vec![1.0, 2.0, 0.0], "0.5 v + 0.5 g");
    assert!(second.iter().all(|v| v == &second[0]));

    let plain = spec();
    let mut w = ClusterSpec {
        momentum: 0.0,
        ..plain
    }
    .resolve()
    .unwrap()
    .worker(4, 3)
    .unwrap();
    step(&mut w, 0, vec![2.0, 4.0, -2.0]);
    let (second, _) = step(&mut w, 1, vec![0.0, 0.0, 2.0]);
    assert_eq!(*second[0], vec![0.0, 0.0, 2.0], "β = 0 sends the gradient");
}

#[test]
fn a_byzantine_worker_sends_its_attack_to_every_server() {
    let cluster = ClusterSpec {
        attack: "signflip".into(),
        momentum: 0.0,
        ..spec()
    }
    .resolve()
    .unwrap();
    let mut w = cluster.worker(0, 3).unwrap();
    assert!(matches!(w, WorkerNode::Byzantine(_)), "worker 0 of f_w = 2");
    let (sent, _) = step(&mut w, 0, vec![1.0, -2.0, 3.0]);
    assert_eq!(sent.len(), 5);
    for v in &sent {
        assert_eq!(**v, vec![-1.0, 2.0, -3.0], "signflip of its own gradient");
    }
    // A data attack changes the data, not the vector; and only Byzantine workers flip labels.
    let flip = ClusterSpec {
        attack: "labelflip".into(),
        ..spec()
    }
    .resolve()
    .unwrap();
    assert!(flip.flips_labels(0).unwrap() && flip.flips_labels(1).unwrap());
    assert!(!flip.flips_labels(2).unwrap());
    let mut w = flip.worker(1, 3).unwrap();
    let (sent, _) = step(&mut w, 0, vec![1.0, -2.0, 3.0]);
    assert_eq!(*sent[0], vec![1.0, -2.0, 3.0]);
}

#[test]
fn the_cluster_builds_the_last_servers_byzantine_and_a_users_rule() {
    let cluster = spec().resolve().unwrap();
    let servers: Vec<ServerNode> = (0..5)
        .map(|i| cluster.server(i, vec![0.0; 3]).unwrap())
        .collect();
    assert!(
        servers[..4]
            .iter()
            .all(|s| matches!(s, ServerNode::Honest(_)))
    );
    assert!(matches!(servers[4], ServerNode::Byzantine(_)));
    // A rule of one's own is checked against the q_w = 5 gradients a replica gets.
    let median = |n, f| -> byzsgd_core::Result<Box<dyn byzsgd_core::Aggregator>> {
        Ok(Box::new(byzsgd_core::MedianConfig::new(n, f).init()?))
    };
    let mine = cluster.clone().with_rule(Arc::new(median)).unwrap();
    assert_eq!(mine.spec().gar, "median");
    // Behind the mode's default pre-aggregation (NNM in async), which keeps its own name.
    assert_eq!(mine.spec().pre.as_deref(), Some("nnm"));
    assert_eq!(mine.rule().unwrap().name(), "nnm+median");
    let krum = |n, f| -> byzsgd_core::Result<Box<dyn byzsgd_core::Aggregator>> {
        Ok(Box::new(byzsgd_core::KrumConfig::new(n, f).init()?))
    };
    let err = cluster.with_rule(Arc::new(krum)).unwrap_err().to_string();
    assert!(err.contains("krum"), "{err}");
}
