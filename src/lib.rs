//! # byzsgd
//!
//! Byzantine-resilient distributed SGD (ByzSGD) for Burn models. This facade crate re-exports the
//! core ([`byzsgd_core`]: the [`Aggregator`] trait and every robust rule, by name in
//! [`registry`]) and holds the `byzsgd` command line ([`cli`]) with its `.npy` I/O ([`npy`]).
//!
//! Each rule has its own resilience bound on the number of inputs `n` for `f` Byzantine ones
//! (`n >= 2f+1` for most, `n >= 2f+3` for Krum, `n >= 4f+3` for Bulyan); `byzsgd rules` lists them.

pub mod cli;
pub mod npy;

pub use byzsgd_core;
pub use byzsgd_core::{
    Aggregation, Aggregator, Bound, Contraction, Error, Exec, Result, Rows, registry, rules,
    testing,
};
