//! What the network runtime's tests share: a quadratic gradient source, keys, and in-memory
//! clusters of real nodes (TLS, handshakes, framing and all) on a [`MemNet`].
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use byzsgd_core::Result;
use byzsgd_core::node::Cluster;
use byzsgd_core::node::{ClusterSpec, GradientSource, Timers, model_hash};
use byzsgd_core::protocol::Node;
use byzsgd_net::id;
use byzsgd_net::journal::Journal;
use byzsgd_net::memnet::MemNet;
use byzsgd_net::runner::{Executor, Finished, Machine, NodeRun, WallTimers};
use byzsgd_net::tls::{ClusterKeys, Tls, keygen};
use byzsgd_net::transport::{Limits, Local};
use byzsgd_net::wire::{Hello, PROTOCOL_VERSION};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

pub const CLUSTER: &str = "test";
pub const DIM: usize = 16;

/// f(x) = ½‖x − target‖², with seeded noise per worker and step.
#[derive(Debug, Clone)]
pub struct Quadratic {
    pub dim: usize,
}

pub fn target(i: usize) -> f32 {
    1.0 + (i % 5) as f32
}

impl GradientSource for Quadratic {
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_params(&self) -> Vec<f32> {
        vec![0.0; self.dim]
    }
    fn gradient(&mut self, w: usize, t: u64, p: &[f32]) -> Result<(Vec<f32>, f32)> {
        let mut rng = ChaCha8Rng::seed_from_u64(t * 1000 + w as u64);
        let g: Vec<f32> = p
            .iter()
            .enumerate()
            .map(|(i, x)| x - target(i) + 0.1 * (rng.random::<f32>() - 0.5))
            .collect();
        let loss = g.iter().map(|v| 0.5 * v * v).sum();
        Ok((g, loss))
    }
    fn evaluate(&mut self, p: &[f32]) -> Result<Option<f64>> {
        Ok(Some(distance(p)))
    }
    fn fork(&self) -> Box<dyn GradientSource> {
        Box::new(self.clone())
    }
}

/// Distance to the optimum.
pub fn distance(p: &[f32]) -> f64 {
    p.iter()
        .enumerate()
        .map(|(i, x)| f64::from(x - target(i)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The test cluster's spec: 5 servers (1 Byzantine), 7 workers (2 Byzantine).
pub fn spec(mode: &str, steps: u64) -> ClusterSpec {
    ClusterSpec {
        mode: mode.into(),
        steps,
        gather_period: Some(4),
        lr: "0.2".into(),
        momentum: 0.0,
        attack: "alie".into(),
        server_attack: "equivocate".into(),
        timers: Timers {
            step_deadline: 12.0,
            pull_timeout: 3.0,
            stall: 30.0,
        },
        ..ClusterSpec::default()
    }
}

/// A new CA and keys for every node of a 5 + 7 cluster.
fn new_keys() -> ClusterKeys {
    let nodes: Vec<Node> = (0..5)
        .map(Node::Server)
        .chain((0..7).map(Node::Worker))
        .collect();
    keygen(CLUSTER, &nodes).expect("keys")
}

/// The cluster's keys, made once per test binary (ECDSA keygen is fast, but not free).
pub fn keys() -> &'static ClusterKeys {
    static KEYS: OnceLock<ClusterKeys> = OnceLock::new();
    KEYS.get_or_init(new_keys)
}

/// Keys of another CA, same names.
pub fn foreign_keys() -> &'static ClusterKeys {
    static KEYS: OnceLock<ClusterKeys> = OnceLock::new();
    KEYS.get_or_init(new_keys)
}

/// `node`'s TLS from `keys`.
pub fn tls(keys: &ClusterKeys, node: Node) -> Tls {
    let name = id::name(node);
    let (_, cert, key) = keys
        .nodes
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a key per node");
    Tls::from_pem(
        keys.ca_cert.as_bytes(),
        cert.as_bytes(),
        key.as_bytes(),
        CLUSTER,
    )
    .expect("tls")
}

/// The hello of `node` in a cluster trained with `settings`.
pub fn hello(node: Node, settings: &BTreeMap<String, String>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        cluster: CLUSTER.into(),
        node: id::name(node),
        dim: DIM as u64,
        settings: settings.clone(),
        init_hash: model_hash(&[0.0; DIM]),
    }
}

pub fn settings() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("lr".to_string(), "0.2".to_string()),
        ("seed".to_string(), "1".to_string()),
    ])
}

/// `node`'s local end, with short deadlines.
pub fn local(node: Node) -> Local {
    Local {
        me: node,
        tls: tls(keys(), node),
        hello: hello(node, &settings()),
        limits: Limits {
            handshake_deadline: Duration::from_secs(2),
            frame_deadline: Duration::from_millis(500),
            keepalive: Duration::from_millis(300),
            ..Limits::for_dim(DIM)
        },
    }
}

pub fn addr(node: Node) -> String {
    id::name(node)
}

/// A node of `cluster` ready to run on the in-memory network, its journal in `dir`.
pub fn node_run(cluster: &Cluster, node: Node, steps: u64, dir: &Path) -> NodeRun {
    let source = Quadratic { dim: DIM };
    let machine = match node {
        Node::Server(i) => Machine::Server(cluster.server(i, vec![0.0; DIM]).expect("server")),
        Node::Worker(i) => Machine::Worker(cluster.worker(i, DIM).expect("worker")),
    };
    let peers = cluster
        .nodes()
        .filter(|&p| p != node && (matches!(node, Node::Server(_)) || matches!(p, Node::Server(_))))
        .map(|p| (p, addr(p)))
        .collect();
    NodeRun {
        local: local(node),
        byzantine: cluster.is_byzantine(node),
        machine,
        shape: cluster.shape(),
        source: Some(Box::new(source)),
        steps,
        eval_every: Some(0),
        timers: WallTimers::scaled(cluster.spec().timers, Duration::from_millis(20)),
        peers,
        linger: Duration::from_secs(3),
        give_up: None,
        executor: Executor::Inline,
        checkpoint: None,
        journal: Some(Journal::open(&dir.join(id::name(node))).expect("journal")),
        resumed: false,
    }
}

/// Runs every node of `cluster` but those in `skip` on `net`, each as its own task, until each
/// finished (or `timeout` passes: a test failure).
pub async fn run_all(
    cluster: &Cluster,
    net: &MemNet,
    steps: u64,
    dir: &Path,
    skip: &[Node],
    timeout: Duration,
) -> BTreeMap<Node, Finished> {
    let mut tasks = Vec::new();
    for node in cluster.nodes().filter(|n| !skip.contains(n)) {
        let run = node_run(cluster, node, steps, dir);
        let listener = net.listen(&addr(node));
        let net = net.clone();
        tasks.push((
            node,
            tokio::spawn(async move { run.run(net, listener, CancellationToken::new()).await }),
        ));
    }
    let mut out = BTreeMap::new();
    for (node, task) in tasks {
        let f = tokio::time::timeout(timeout, task)
            .await
            .unwrap_or_else(|_| panic!("{} did not finish within {timeout:?}", id::name(node)))
            .expect("no panic")
            .unwrap_or_else(|e| panic!("{}: {e}", id::name(node)));
        out.insert(node, f);
    }
    out
}
