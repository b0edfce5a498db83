//! The node layer: what a server or worker node is, whatever runtime drives it.
//!
//! A node is a protocol state machine ([`crate::protocol`]) with its update rule and schedule
//! ([`HostSgd`], [`LrSchedule`]), its worker momentum, and, for a Byzantine node, the wrapper
//! that runs its attack; all built by a [`Cluster`] from one validated [`ClusterSpec`] (the TOML
//! file, the CLI's flags and the builder fill the same struct). A node's training computation
//! reaches the runtime through a [`GradientSource`]. Runtimes (the simulator in
//! [`crate::sim`], the TCP runtime) only move events and actions between nodes and the outside,
//! and feed the nodes' records to one [`Collector`] for metrics.
//!
//! # Where the defaults leave the paper
//!
//! Three defaults of [`ClusterSpec`] differ from the paper's algorithm, each chosen by measurement
//! (BENCHMARKS.md, issues 10 and 15) and each one setting away from it:
//! - worker momentum 0.95 (`momentum = 0`: the paper's workers send plain gradients), the
//!   literature's defence against attacks hiding in the honest gradients' spread;
//! - in async mode, nearest-neighbour mixing in front of the servers' rule (`pre = "none"`: MDA
//!   alone, the paper's rule; [`ClusterSpec::default_pre`] says why);
//! - in sync mode, the Lipschitz filter accepts up to twice its percentile
//!   (`lipschitz_slack = 1`: the paper's filter; [`ClusterSpec::lipschitz_slack`] says why).

mod cluster;
pub mod metrics;
mod schedule;
mod sgd;
mod source;
mod spec;

pub use cluster::{Cluster, RuleFactory, ServerNode, WorkerAttackFactory, WorkerNode, mix};
pub use metrics::{CSV_HEADER, Collector, Completed, StepRow, diameter, label, model_hash};
pub use schedule::LrSchedule;
pub use sgd::HostSgd;
pub use source::GradientSource;
pub use spec::{ClusterSpec, MIN_TIMER, Timers};
