//! # byzsgd-burn
//!
//! What makes a Burn model trainable by the ByzSGD engine: flat views of any [`Module`]
//! (parameters and gradients as one `Tensor<1>` in declaration order, and back), a worker's
//! gradient at given flat parameters, a server's update from a flat aggregate (SGD with momentum,
//! weight decay and learning-rate schedules), and run-time device selection.
//!
//! [`sim`] holds the in-process simulator of a whole ByzSGD cluster (every node in one process,
//! seeded, over a simulated network) and [`sim::ByzSgd`], the builder that trains any Burn module
//! of yours under ByzSGD with the options of `byzsgd simulate`.
//!
//! [`Module`]: burn::module::Module

mod classifier;
mod device;
mod error;
mod flat;
mod grad;
mod optim;
mod schedule;
pub mod sim;

pub use classifier::{ClassifierBatcher, LabelledImages, accuracy, flip_label, test_accuracy};
pub use device::{DEVICES, parse_device};
pub use error::{BurnError, Result};
pub use flat::{flatten_gradients, flatten_params, load_params, param_count};
pub use grad::{Trainable, gradient};
pub use optim::{MomentumAt, ServerOptimizer, ServerOptimizerConfig};
pub use schedule::LrSchedule;
