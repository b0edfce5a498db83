//! The in-process simulator: every node of a cluster in one process, driven through the node
//! layer ([`crate::node`]) on a simulated clock and network ([`NetworkConfig`]), with gradients
//! from a [`GradientSource`](crate::node::GradientSource) computed in parallel.
//!
//! It is a runtime, a sibling of the TCP runtime: it moves events and actions between the nodes
//! and the outside (a clock, a network model, a gradient pool) and holds no protocol behaviour,
//! but one simulator feature: the Byzantine workers collude as one omniscient adversary that
//! sees the honest gradients of the step ([`adversary`](self) docs in the source).
//!
//! Faults it injects ([`NetworkConfig`]): latency and jitter, transmissions lost and resent,
//! messages lost for good, partitions that heal, and crashes, for good or followed by a restart
//! from the node's snapshot or from scratch (every live peer then gets
//! [`Event::Connected`](crate::protocol::Event::Connected) for it). Recovery is the protocol's:
//! the runtime only keeps snapshots and reconnects. A run that makes no progress for far longer
//! than any configured disruption ends with [`Error::Stalled`](crate::Error::Stalled).
//!
//! Events (message deliveries, finished gradients, timers) are ordered by simulated time, ties by
//! the order they were scheduled, and every random draw comes from a seeded generator: a seed
//! fixes the run, whatever the number of gradient threads (gradients are computed on a thread
//! pool as soon as they are asked for, and collected in event order). Across machines, Burn's
//! floating-point kernels may differ, and so may the hash.

mod adversary;
mod engine;
mod network;
mod pool;
mod queue;

pub use engine::{Report, Simulation};
pub use network::{Crash, NetworkConfig, Partition, RestartFrom, parse_node};
