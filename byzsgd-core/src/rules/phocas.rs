//! Phocas: per coordinate, the mean of the `n-f` values closest to the `f`-trimmed mean (ties to the lower input index). Bound: `n >= 2f+1`. NaN is ordered as +inf; non-finite values are the farthest from the (finite) trimmed mean, so never averaged while at most `f`.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
#[allow(unused_imports)]
use crate::kernels::coord::{Center, Coord, coordinatewise};
use crate::{Bound, Result, Rows, tensor_ops};

simple_config!(
    /// Configuration of [`Phocas`].
    PhocasConfig => Phocas, "phocas", Bound::new(2, 1)
);

impl Phocas {
    fn coord(&self, rows_n: usize) -> Coord {
        let _ = rows_n;
        Coord::Closest {
            k: rows_n - self.f,
            center: Center::TrimmedMean(self.f),
        }
    }
}

impl Kernels for Phocas {
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

impl crate::Contraction for Phocas {
    fn contract(&self, models: Tensor<2>) -> Result<Tensor<1>> {
        crate::Aggregator::aggregate(self, models)
    }
}
