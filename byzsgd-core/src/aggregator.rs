//! The two rule traits: [`Aggregator`] (gradients -> one gradient, the server's rule) and
//! [`Contraction`] (models -> one model, Distributed Median Contraction's rule).
//!
//! Inputs are one stacked `Tensor<2>` of shape `[n, d]`, row `i` being sender `i`'s vector. A rule
//! is written once in tensor ops and runs on whichever device holds the tensor; the built-in rules
//! additionally carry hand-written kernels for host-resident (CPU) tensors, chosen by the tensor's
//! device, with the tensor-op path as the fallback everywhere else ([`Exec`]).

use burn::tensor::Tensor;

use crate::rows::{Rows, rows_of, to_host, vector_on};
use crate::{Bound, Distances, Result};

/// The aggregate of one call, and which inputs the rule kept.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// The aggregate vector, `[d]`, on the inputs' device.
    pub value: Tensor<1>,
    /// Indices of the inputs the rule selected (sorted ascending). Coordinate-wise rules, which
    /// keep a different subset per coordinate, report every input.
    pub kept: Vec<usize>,
}

/// A robust (or not) aggregation rule over `n` stacked inputs.
///
/// A user-written rule implements [`name`](Self::name), [`f`](Self::f), [`bound`](Self::bound)
/// and [`aggregate`](Self::aggregate); everything else has a default. Run
/// [`testing::Suite`](crate::testing::Suite) on it to check it behaves like a robust rule.
pub trait Aggregator: Send + Sync + std::fmt::Debug {
    /// The rule's short name (`"mda"`).
    fn name(&self) -> String;

    /// The declared number of Byzantine inputs.
    fn f(&self) -> usize;

    /// The rule's resilience bound on `n` (ALGORITHMS.md).
    fn bound(&self) -> Bound;

    /// Aggregates `inputs` (`[n, d]`, rows = senders) into one `[d]` vector on the same device.
    fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>>;

    /// Like [`aggregate`](Self::aggregate), and also says which inputs were kept.
    fn aggregate_detailed(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let n = inputs.dims()[0];
        Ok(Aggregation {
            value: self.aggregate(inputs)?,
            kept: (0..n).collect(),
        })
    }

    /// Aggregates host-resident rows; returns the aggregate and the kept indices. Built-in rules
    /// run their CPU kernels here directly (no tensor round trip); the default goes through
    /// [`aggregate_detailed`](Self::aggregate_detailed) on the default device.
    fn aggregate_rows(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let t = crate::rows::matrix_on(
            rows.to_matrix().into_owned(),
            rows.n(),
            rows.d(),
            &Default::default(),
        );
        let out = self.aggregate_detailed(t)?;
        Ok((crate::rows::host_vector(out.value)?, out.kept))
    }

    /// For a rule whose aggregate is the mean of a subset of its inputs chosen from their
    /// pairwise squared distances alone (MDA, Krum, Multi-Krum, the average): the subset it
    /// would average (ascending, as [`Aggregation::kept`]) for the distances `dist`.
    /// `Ok(None)`, the default: the rule needs the vectors themselves (the built-in rules
    /// built with [`Exec::TensorOps`] say so too, so that their tensor path runs).
    ///
    /// A pre-aggregation whose outputs are weighted means of the inputs (NNM) uses it to run the
    /// rule without materialising those means: their distances follow from the inputs' ones,
    /// and the aggregate is one weighted sum of the inputs. A rule that answers `Some` must
    /// aggregate host rows to the mean of exactly that subset.
    fn subset_from_distances(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        let _ = dist;
        Ok(None)
    }
}

/// The model-side rule of Distributed Median Contraction: `q_ps` models -> one model.
///
/// Any coordinate-wise robust rule can serve; the default is the coordinate-wise median.
/// [`registry::build_contraction`](crate::registry::build_contraction) builds the built-in ones
/// (median, trimmed-mean, phocas, meamed) by name.
pub trait Contraction: Send + Sync + std::fmt::Debug {
    /// The rule's short name (`"median"`), for error messages.
    fn name(&self) -> String;

    /// Contracts `models` (`[q, d]`) into one `[d]` model.
    fn contract(&self, models: Tensor<2>) -> Result<Tensor<1>>;

    /// Contracts host-resident models (`q` rows of length `d`) into one model. The built-in rules
    /// return exactly their [`Aggregator::aggregate_rows`] value (CPU kernel, no tensor round
    /// trip, bound checked against `q`); the default goes through [`contract`](Self::contract) on
    /// the default device.
    fn contract_rows(&self, rows: Rows<'_>) -> Result<Vec<f32>> {
        let t = crate::rows::matrix_on(
            rows.to_matrix().into_owned(),
            rows.n(),
            rows.d(),
            &Default::default(),
        );
        crate::rows::host_vector(self.contract(t)?)
    }
}

/// Which implementation a built-in rule runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Exec {
    /// Host kernels when the tensor lives in host memory (flex, ndarray), tensor ops elsewhere.
    #[default]
    Auto,
    /// Always the device-independent tensor-op implementation.
    TensorOps,
}

/// A built-in rule: one host kernel and one tensor-op implementation of the same definition.
pub(crate) trait Kernels: Send + Sync + std::fmt::Debug {
    /// The CPU path over host rows.
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)>;
    /// The device-independent path.
    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation>;
    /// [`Aggregator::subset_from_distances`] for this rule (default: not a subset mean).
    fn subset(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        let _ = dist;
        Ok(None)
    }
}

/// Runs a built-in rule on `inputs`, picking the path by `exec` and the tensor's device, after
/// checking the bound against the actual number of inputs.
pub(crate) fn run_kernels(
    rule: &dyn Kernels,
    name: &str,
    bound: Bound,
    f: usize,
    exec: Exec,
    inputs: Tensor<2>,
) -> Result<Aggregation> {
    let [n, _] = crate::rows::check_matrix(&inputs)?;
    bound.check(name, n, f)?;
    let device = inputs.device();
    if exec == Exec::Auto && crate::rows::is_host_device(&device) {
        let (data, dims) = to_host(inputs)?;
        let (values, kept) = rule.host(rows_of(&data, dims)?)?;
        Ok(Aggregation {
            value: vector_on(values, &device),
            kept,
        })
    } else {
        rule.tensor(inputs)
    }
}

/// Runs a built-in rule on host rows (bound already checked): its CPU kernel, or with
/// [`Exec::TensorOps`] its tensor path on the default device.
pub(crate) fn run_kernels_on_rows(
    rule: &dyn Kernels,
    exec: Exec,
    rows: Rows<'_>,
) -> Result<(Vec<f32>, Vec<usize>)> {
    if exec == Exec::TensorOps {
        let t = crate::rows::matrix_on(
            rows.to_matrix().into_owned(),
            rows.n(),
            rows.d(),
            &Default::default(),
        );
        let out = rule.tensor(t)?;
        return Ok((crate::rows::host_vector(out.value)?, out.kept));
    }
    rule.host(rows)
}

/// Implements [`Aggregator`] for a built-in rule struct with fields `f` and `exec` that
/// implements [`Kernels`].
macro_rules! builtin_aggregator {
    ($ty:ty, $name:expr, $bound:expr) => {
        impl $crate::Aggregator for $ty {
            fn name(&self) -> String {
                ($name).to_string()
            }
            fn f(&self) -> usize {
                self.f
            }
            fn bound(&self) -> $crate::Bound {
                $bound
            }
            fn aggregate(
                &self,
                inputs: burn::tensor::Tensor<2>,
            ) -> $crate::Result<burn::tensor::Tensor<1>> {
                Ok(self.aggregate_detailed(inputs)?.value)
            }
            fn aggregate_detailed(
                &self,
                inputs: burn::tensor::Tensor<2>,
            ) -> $crate::Result<$crate::Aggregation> {
                $crate::aggregator::run_kernels(
                    self,
                    &self.name(),
                    self.bound(),
                    self.f,
                    self.exec,
                    inputs,
                )
            }
            fn aggregate_rows(
                &self,
                rows: $crate::Rows<'_>,
            ) -> $crate::Result<(Vec<f32>, Vec<usize>)> {
                self.bound().check(&self.name(), rows.n(), self.f)?;
                $crate::aggregator::run_kernels_on_rows(self, self.exec, rows)
            }
            fn subset_from_distances(
                &self,
                dist: &$crate::Distances,
            ) -> $crate::Result<Option<Vec<usize>>> {
                // Told to run its tensor ops, the rule gets its inputs written out.
                if self.exec == $crate::Exec::TensorOps {
                    return Ok(None);
                }
                self.bound().check(&self.name(), dist.n(), self.f)?;
                $crate::aggregator::Kernels::subset(self, dist)
            }
        }
    };
}
pub(crate) use builtin_aggregator;
