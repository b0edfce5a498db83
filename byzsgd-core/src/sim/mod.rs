//! The in-process simulator: every node of a cluster in one process, driven through the node
//! layer ([`crate::node`]) on a simulated clock and network ([`NetworkConfig`]), with gradients
//! from a [`GradientSource`](crate::node::GradientSource) computed in parallel.
//!
//! It is a runtime, a sibling of the TCP runtime: it moves events and actions between the nodes
//! and the outside (a clock, a network model, a gradient pool) and holds no protocol behaviour,
//! but one simulator feature: the Byzantine workers collude as one omniscient adversary that
//! sees the honest gradients of the step ([`adversary`](self) docs in the source).
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
