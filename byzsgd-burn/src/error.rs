//! The crate's one error type.

use thiserror::Error;

/// What can go wrong between byzsgd and a Burn model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BurnError {
    /// A flat vector does not match the module's parameter count.
    #[error("flat vector has {got} values but the model has {expected} parameters")]
    Dimension {
        /// The module's parameter count.
        expected: usize,
        /// The flat vector's length.
        got: usize,
    },
    /// A device that is unknown, or not compiled into this build.
    #[error("{0}")]
    Device(String),
    /// A configuration value out of range.
    #[error("bad configuration: {0}")]
    Config(String),
    /// From the protocol, a rule, an attack, or a simulated run that stalled.
    #[error(transparent)]
    Core(#[from] byzsgd_core::Error),
    /// The training data or the user's batches.
    #[error("data: {0}")]
    Data(String),
}

/// Result with [`BurnError`].
pub type Result<T, E = BurnError> = std::result::Result<T, E>;
