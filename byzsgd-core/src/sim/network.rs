//! The simulated network and clock: per-message latency, lossy links (a lost transmission is
//! resent after a timeout, as TCP would), messages lost for good with their connection (the
//! protocol's re-sends on reconnection, timers and re-requests must recover), partitions over a
//! window of simulated time, and nodes that crash at a given step and may restart later, from
//! their snapshot or from scratch. Time is counted in units of one gradient computation.

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

/// A node that stops once it reaches `step`, for good or until it restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// `s3`, `w5`, ...
    pub node: String,
    /// The step it stops at.
    pub step: u64,
    /// Restarts this much simulated time after the crash (`None`: never).
    #[serde(default)]
    pub restart_after: Option<f64>,
    /// What it restarts from.
    #[serde(default)]
    pub restart_from: RestartFrom,
}

impl Crash {
    /// `node` stops for good at `step`.
    pub fn at(node: &str, step: u64) -> Self {
        Self {
            node: node.into(),
            step,
            restart_after: None,
            restart_from: RestartFrom::Snapshot,
        }
    }

    /// ... and restarts `after` simulated time later from `from`.
    pub fn restarting(mut self, after: f64, from: RestartFrom) -> Self {
        self.restart_after = Some(after);
        self.restart_from = from;
        self
    }
}

/// What a restarted node starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartFrom {
    /// The snapshot of its state taken when it crashed (as a runtime writes to disk).
    #[default]
    Snapshot,
    /// Nothing: step 0 and the initial model, as after a lost disk.
    Scratch,
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
    /// Probability that a message is lost for good with its connection (as over TCP, where a
    /// message is only lost when its connection breaks): never resent by the network; both ends
    /// reconnect after `rto` and the protocol decides what to send again.
    pub loss_for_good: f64,
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
            loss_for_good: 0.0,
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
        if !(0.0..1.0).contains(&self.loss_for_good) {
            return Err(Error::Config(format!(
                "network.loss_for_good must be in [0, 1), got {}",
                self.loss_for_good
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
            if let Some(after) = c.restart_after
                && !(after.is_finite() && after >= 0.0)
            {
                return Err(Error::Config(format!(
                    "crash of {}: restart_after must be a finite time >= 0, got {after}",
                    c.node
                )));
            }
        }
        Ok(())
    }

    /// Whether a message is lost for good.
    pub fn lost(&self, rng: &mut ChaCha8Rng) -> bool {
        self.loss_for_good > 0.0 && rng.random::<f64>() < self.loss_for_good
    }

    /// The simulated time within which the last partition heals and the last crashed node
    /// restarts: a run that makes no progress for much longer than this has stalled.
    pub fn longest_disruption(&self) -> f64 {
        let heal = self.partitions.iter().map(|p| p.until).fold(0.0, f64::max);
        let restart = self
            .crashes
            .iter()
            .filter_map(|c| c.restart_after)
            .fold(0.0, f64::max);
        heal.max(restart)
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

    /// The crashes of `node`, earliest first.
    pub fn crashes_of(&self, node: Node) -> Vec<Crash> {
        let mut c: Vec<Crash> = self
            .crashes
            .iter()
            .filter(|c| parse_node(&c.node).ok() == Some(node))
            .cloned()
            .collect();
        c.sort_by_key(|c| c.step);
        c
    }
}
