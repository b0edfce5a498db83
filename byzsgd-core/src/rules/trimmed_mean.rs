//! Trimmed mean: per coordinate, drop the `f` smallest and `f` largest values and average the rest. Bound: `n >= 2f+1`. NaN is ordered as +inf, so up to `f` non-finite values are always among the dropped ones.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
#[allow(unused_imports)]
use crate::kernels::coord::{Center, Coord, coordinatewise};
use crate::{Bound, Result, Rows, tensor_ops};

simple_config!(
    /// Configuration of [`TrimmedMean`].
    TrimmedMeanConfig => TrimmedMean, "trimmed-mean", Bound::new(2, 1)
);

impl TrimmedMean {
    fn coord(&self, rows_n: usize) -> Coord {
        let _ = rows_n;
        Coord::TrimmedMean(self.f)
    }
}

impl Kernels for TrimmedMean {
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

impl crate::Contraction for TrimmedMean {
    fn contract(&self, models: Tensor<2>) -> Result<Tensor<1>> {
        crate::Aggregator::aggregate(self, models)
    }
}
