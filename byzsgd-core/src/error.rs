//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong building or running a rule, a node or a simulated run.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// `(n, f)` outside the rule's own bound (ALGORITHMS.md).
    #[error(
        "{rule} needs n >= {bound} inputs for f = {f} Byzantine (at least {min}), but got n = {n}"
    )]
    Bound {
        /// Rule name.
        rule: String,
        /// The bound as text, e.g. `2f+3`.
        bound: String,
        /// Inputs given.
        n: usize,
        /// Declared Byzantine inputs.
        f: usize,
        /// Smallest `n` the bound allows for this `f`.
        min: usize,
    },
    /// The inputs are not a non-empty `[n, d]` f32 matrix.
    #[error("bad input: {0}")]
    Input(String),
    /// A rule's option is out of range or unknown.
    #[error("bad configuration: {0}")]
    Config(String),
    /// A run could not go on (every node waiting, too many crashes).
    #[error("the run stalled: {0}")]
    Stalled(String),
    /// A node's gradient source (its model or data) failed.
    #[error("gradient source: {0}")]
    Source(String),
    /// No rule of that name.
    #[error("unknown rule {name:?}; known rules: {known}")]
    UnknownRule {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
}

/// Result with the crate's [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
