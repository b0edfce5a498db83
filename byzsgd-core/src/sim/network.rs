//! The simulated network and clock: per-message latency, lossy links (a lost transmission is
//! resent after a timeout, as TCP would), partitions over a window of simulated time, and nodes
//! that crash at a given step. Time is counted in units of one gradient computation.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::protocol::Node;
use crate::{Error, Result};

/// Nodes on one side of a partition, cut from the rest during `[from, until)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Node names: `s0`, `s1`, ... for servers, `w0`, ... for workers.
    pub nodes: Vec<String>,
    /// Start, in simulated time.
    pub from: f64,
    /// End: messages held at the cut are delivered then.
    pub until: f64,
}

/// A node that stops for good once it reaches `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// `s3`, `w5`, ...
    pub node: String,
    /// The step it stops at.
    pub step: u64,
}

/// Latencies, losses, partitions and crashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Smallest one-way latency of a message.
    pub latency: f64,
    /// Extra latency per message, uniform in `[0, jitter)`.
    pub jitter: f64,
    /// Probability that a transmission is lost (it is resent after `rto`).
    pub loss: f64,
    /// Retransmission timeout.
    pub rto: f64,
    /// Time of one gradient computation.
    pub compute: f64,
    /// Extra time per gradient, uniform in `[0, compute_jitter)`.
    pub compute_jitter: f64,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Crashes.
    pub crashes: Vec<Crash>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            latency: 0.05,
            jitter: 0.1,
            loss: 0.0,
            rto: 1.0,
            compute: 1.0,
            compute_jitter: 0.2,
            partitions: Vec::new(),
            crashes: Vec::new(),
        }
    }
}

/// `s3` → `Server(3)`, `w5` → `Worker(5)`.
pub fn parse_node(name: &str) -> Result<Node> {
    let bad = || {
        Error::Config(format!(
            "node {name:?}: expected s<i> (server) or w<i> (worker)"
        ))
    };
    let (kind, index) = name.split_at_checked(1).ok_or_else(bad)?;
    let i: usize = index.parse().map_err(|_| bad())?;
    match kind {
        "s" => Ok(Node::Server(i)),
        "w" => Ok(Node::Worker(i)),
        _ => Err(bad()),
    }
}

impl NetworkConfig {
    /// Checks the numbers and the node names.
    pub fn validate(&self) -> Result<()> {
        let times = [
            ("latency", self.latency),
            ("jitter", self.jitter),
            ("rto", self.rto),
            ("compute", self.compute),
            ("compute_jitter", self.compute_jitter),
        ];
        for (what, v) in times {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config(format!(
                    "network.{what} must be a finite time >= 0, got {v}"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(Error::Config(format!(
                "network.loss must be in [0, 1), got {}",
                self.loss
            )));
        }
        if self.loss > 0.0 && self.rto <= 0.0 {
            return Err(Error::Config("network.rto must be > 0 with loss".into()));
        }
        for p in &self.partitions {
            if p.from.is_nan() || p.until.is_nan() || p.from > p.until {
                return Err(Error::Config(format!(
                    "partition from {} until {}: from must not be after until",
                    p.from, p.until
                )));
            }
            for n in &p.nodes {
                parse_node(n)?;
            }
        }
        for c in &self.crashes {
            parse_node(&c.node)?;
        }
        Ok(())
    }

    /// When a message sent by `from` to `to` at `now` arrives.
    pub fn arrival(&self, from: Node, to: Node, now: f64, rng: &mut ChaCha8Rng) -> f64 {
        let mut t = now + self.latency + self.jitter * rng.random::<f64>();
        while self.loss > 0.0 && rng.random::<f64>() < self.loss {
            t += self.rto;
        }
        // Held at a cut until it heals (partitions are checked in order; overlapping ones chain).
        for p in &self.partitions {
            let inside = |n: Node| p.nodes.iter().any(|m| parse_node(m).ok() == Some(n));
            if inside(from) != inside(to) && t >= p.from && t < p.until {
                t = p.until + self.latency;
            }
        }
        t
    }

    /// How long one gradient takes.
    pub fn compute_time(&self, rng: &mut ChaCha8Rng) -> f64 {
        self.compute + self.compute_jitter * rng.random::<f64>()
    }

    /// The step at which `node` crashes, if it does.
    pub fn crash_step(&self, node: Node) -> Option<u64> {
        self.crashes
            .iter()
            .filter(|c| parse_node(&c.node).ok() == Some(node))
            .map(|c| c.step)
            .min()
    }
}
