//! Average: the plain mean. Not robust (a single input moves it arbitrarily, and a NaN input
//! makes it NaN); the baseline that every overhead is measured against. Bound: `n >= 1`.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
use crate::kernels::mean::mean_rows;
use crate::{Bound, Distances, Result, Rows};

simple_config!(
    /// Configuration of [`Average`]; `f` is recorded but not used by the rule.
    AverageConfig => Average, "average", Bound::new(0, 1)
);

impl Kernels for Average {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        Ok((mean_rows(&all), (0..rows.n()).collect()))
    }

    fn subset(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        Ok(Some((0..dist.n()).collect()))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let n = inputs.dims()[0];
        Ok(Aggregation {
            value: inputs.mean_dim(0).squeeze_dim(0),
            kept: (0..n).collect(),
        })
    }
}
