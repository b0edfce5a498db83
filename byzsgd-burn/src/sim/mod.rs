//! The in-process simulator: a whole ByzSGD cluster in one process, seeded and deterministic,
//! over a simulated network ([`NetworkConfig`]), with gradients from an [`Oracle`] (a Burn model
//! and its data, or anything else) computed in parallel. See [`engine`] for how it runs and how
//! Byzantine nodes behave.

pub mod builder;
pub mod classifier;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod module_oracle;
pub mod network;
pub mod oracle;
pub mod update;

pub use builder::{ByzSgd, Trained};
pub use classifier::{check_shape, train_classifier};
pub use config::{Resolved, SimConfig};
pub use engine::{Report, Simulation};
pub use metrics::{CSV_HEADER, StepRow, diameter, model_hash};
pub use module_oracle::{Evaluate, Flip, ModuleOracle};
pub use network::{Crash, NetworkConfig, Partition, parse_node};
pub use oracle::Oracle;
pub use update::HostSgd;
