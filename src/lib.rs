//! # byzsgd
//!
//! Byzantine-resilient distributed SGD (ByzSGD) for Burn models: the facade over the workspace.
//!
//! - [`ByzSgd`] trains any Burn module of yours under ByzSGD (in process, on the simulator), with
//!   a rule or an attack of your own if you like; [`Trainable`] is what your module implements.
//! - [`byzsgd_core`]: the [`Aggregator`] trait and every robust rule (by name in [`registry`]),
//!   the attacks, the protocol's state machines, the node layer ([`node`]: [`ClusterSpec`], the
//!   one cluster configuration) and the simulator ([`sim`]).
//! - [`byzsgd_burn`]: the Burn glue (flat views of a module, gradients, devices).
//! - [`byzsgd_net`]: the TCP runtime (each node its own process over mutual TLS), as
//!   `byzsgd launch`, `server` and `worker` drive it.
//! - [`npy`]: strict `.npy` reading and writing, as `byzsgd aggregate` uses it.
//!
//! Each rule has its own resilience bound on the number of inputs `n` for `f` Byzantine ones
//! (`n >= 2f+1` for most, `n >= 2f+3` for Krum, `n >= 4f+3` for Bulyan); `byzsgd rules` lists them.
//! The `byzsgd` command line is the binary of this package, not library API.

pub mod npy;

pub use byzsgd_net;

pub use byzsgd_burn::{
    self, ByzSgd, ModuleSource, Trainable, Trained, check_shape, parse_device, train_classifier,
};
pub use byzsgd_core::node::{ClusterSpec, GradientSource, StepRow};
pub use byzsgd_core::sim::Report;
pub use byzsgd_core::{
    self, Aggregation, Aggregator, Bound, Contraction, Error, Exec, Result, Rows, attacks,
    denormals, node, registry, rules, sim, testing,
};
