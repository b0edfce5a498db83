//! The coordinate-wise rules: median, trimmed mean, Phocas and MeaMed. Each computes one [`Coord`]
//! per coordinate over the `n` values (NaN read as +inf), with the host kernel
//! ([`coordinatewise`]) or with tensor ops ([`tensor_ops::coordinatewise`]); each keeps a
//! different subset per coordinate, so reports every input as kept. All four need `n >= 2f+1` and
//! also serve as the model contraction ([`Contraction`](crate::Contraction)) of Distributed Median
//! Contraction. They differ only in their [`Coord`], given where each is declared below.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
use crate::kernels::coord::{Center, Coord, coordinatewise};
use crate::{Bound, Result, Rows, tensor_ops};

/// Declares the coordinate-wise rule `$rule` (docs `$doc`, config `$config`, name `$name`, bound
/// `n >= 2f+1`) that computes `$coord` per coordinate, with `$f` bound to the rule's `f` and `$n`
/// to the number of inputs.
macro_rules! coordinatewise_rule {
    (
        $(#[$doc:meta])+
        $rule:ident, $config:ident, $name:literal,
        |$f:ident, $n:ident| $coord:expr
    ) => {
        simple_config!(
            #[doc = concat!("Configuration of [`", stringify!($rule), "`].")]
            $config => $(#[$doc])+ $rule, $name, Bound::new(2, 1)
        );

        impl $rule {
            fn coord(&self, n: usize) -> Coord {
                let ($f, $n) = (self.f, n);
                $coord
            }
        }

        impl Kernels for $rule {
            fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
                let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
                Ok((
                    coordinatewise(&all, self.coord(rows.n())),
                    (0..rows.n()).collect(),
                ))
            }

            fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
                let n = inputs.dims()[0];
                let value = tensor_ops::coordinatewise(inputs, self.coord(n));
                Ok(Aggregation {
                    value,
                    kept: (0..n).collect(),
                })
            }
        }

        impl crate::Contraction for $rule {
            fn name(&self) -> String {
                crate::Aggregator::name(self)
            }

            fn contract(&self, models: Tensor<2>) -> Result<Tensor<1>> {
                crate::Aggregator::aggregate(self, models)
            }

            fn contract_rows(&self, rows: Rows<'_>) -> Result<Vec<f32>> {
                Ok(crate::Aggregator::aggregate_rows(self, rows)?.0)
            }
        }
    };
}

coordinatewise_rule!(
    /// Median: the coordinate-wise median; for even `n` the mean of the two middle values. Bound:
    /// `n >= 2f+1`. NaN is ordered as +inf, so up to `f` NaN or ±Inf inputs are outvoted and the
    /// output stays inside the honest coordinate-wise range.
    Median, MedianConfig, "median",
    |_f, _n| Coord::Median
);

coordinatewise_rule!(
    /// Trimmed mean: per coordinate, drop the `f` smallest and `f` largest values and average the
    /// rest. Bound: `n >= 2f+1`. NaN is ordered as +inf, so up to `f` non-finite values are always
    /// among the dropped ones.
    TrimmedMean, TrimmedMeanConfig, "trimmed-mean",
    |f, _n| Coord::TrimmedMean(f)
);

coordinatewise_rule!(
    /// Phocas: per coordinate, the mean of the `n-f` values closest to the `f`-trimmed mean (ties
    /// to the lower input index). Bound: `n >= 2f+1`. NaN is ordered as +inf; non-finite values
    /// are the farthest from the (finite) trimmed mean, so never averaged while at most `f`.
    Phocas, PhocasConfig, "phocas",
    |f, n| Coord::Closest {
        k: n - f,
        center: Center::TrimmedMean(f),
    }
);

coordinatewise_rule!(
    /// MeaMed: per coordinate, the mean of the `n-f` values closest to the median (ties to the
    /// lower input index). Bound: `n >= 2f+1`. NaN is ordered as +inf; non-finite values are the
    /// farthest from the (finite) median, so never averaged while at most `f`.
    MeaMed, MeaMedConfig, "meamed",
    |f, n| Coord::Closest {
        k: n - f,
        center: Center::Median,
    }
);
