//! # byzsgd-core
//!
//! The trusted-nothing core of byzsgd: the [`Aggregator`] and [`Contraction`] traits over Burn
//! tensors, every robust aggregation rule of ALGORITHMS.md, and the conformance suite
//! ([`testing`]) that any rule, built-in or user-written, can run; the protocol as sans-IO state
//! machines ([`protocol`]), the node layer every runtime drives ([`node`]: one validated cluster
//! configuration, server and worker nodes, the gradient-source trait, metrics), and the
//! in-process simulator runtime ([`sim`]). Nothing here trains a Burn module: `byzsgd-burn`
//! implements [`node::GradientSource`] for any Burn module.
//!
//! Rules take `n` inputs stacked as one `[n, d]` tensor (row = sender) and a declared number of
//! Byzantine inputs `f`, and return one `[d]` vector. Each is built from a config whose `init()`
//! checks the rule's own bound once:
//!
//! | rule | needs |
//! | --- | --- |
//! | average | `n >= 1` (not robust) |
//! | median, trimmed-mean, phocas, meamed, mda, geometric-median, centered-clipping, nnm | `n >= 2f+1` |
//! | krum, multi-krum | `n >= 2f+3` |
//! | bulyan | `n >= 4f+3` |
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use byzsgd_core::{Aggregator, MdaConfig};
//!
//! let device = Device::default();
//! let inputs = Tensor::<2>::from_floats([[1.0, 1.0], [1.1, 0.9], [0.9, 1.1], [1e30, -1e30]], &device);
//! let mda = MdaConfig::new(4, 1).init().unwrap();
//! let out = mda.aggregate(inputs).unwrap().into_data().try_to_vec::<f32>().unwrap();
//! assert!((out[0] - 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6);
//! ```

pub mod aggregator;
pub mod attacks;
mod bound;
pub mod denormals;
mod error;
pub(crate) mod kernels;
pub mod node;
pub mod protocol;
pub mod registry;
pub mod rows;
pub mod rules;
pub mod sim;
pub(crate) mod tensor_ops;
pub mod testing;

pub use aggregator::{Aggregation, Aggregator, Contraction, Exec};
pub use bound::Bound;
pub use error::{Error, Result};
pub use kernels::dist::Distances;
pub use rows::Rows;
pub use rules::*;

/// Squared L2 distances between all pairs of `rows` (equal lengths, at least one row), with the
/// rules' tiled SIMD kernel: differences summed in f32 runs, accumulated in f64; a row with a
/// non-finite value is infinitely far from the others.
pub fn pairwise_distances(rows: &[&[f32]]) -> Distances {
    kernels::dist::pairwise(rows)
}
