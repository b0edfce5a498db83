//! # byzsgd-burn
//!
//! What makes a Burn model trainable under ByzSGD: flat views of any [`Module`] (parameters and
//! gradients as one `Tensor<1>` in declaration order, and back), a worker's gradient at given
//! flat parameters, a server-side optimizer on the device, run-time device selection, and
//! [`ModuleSource`], the node layer's [`GradientSource`] for any Burn module and its data.
//!
//! [`ByzSgd`] is the builder that trains any Burn module of yours under ByzSGD in one process,
//! on the simulator of `byzsgd_core::sim`, with the options of `byzsgd simulate`; its product is
//! the coordinate-wise median of the replicas' final models.
//!
//! [`Module`]: burn::module::Module
//! [`GradientSource`]: byzsgd_core::node::GradientSource

mod builder;
mod classifier;
mod device;
mod error;
mod flat;
mod grad;
mod optim;
mod source;
mod train_classifier;

pub use builder::{ByzSgd, Trained};
pub use byzsgd_core::node::LrSchedule;
pub use classifier::{ClassifierBatcher, LabelledImages, accuracy, flip_label, test_accuracy};
pub use device::{DEVICES, parse_device};
pub use error::{BurnError, Result};
pub use flat::{flatten_gradients, flatten_params, load_params, param_count};
pub use grad::{Trainable, gradient};
pub use optim::{MomentumAt, ServerOptimizer, ServerOptimizerConfig};
pub use source::{Evaluate, Flip, ModuleSource};
pub use train_classifier::{check_shape, classifier_source, train_classifier};
