//! Krum: the input whose `n-f-2` nearest others are closest (sum of squared distances); ties to
//! the lower index. Bound: `n >= 2f+3`. A row with a NaN or ±Inf is infinitely far from every
//! other, so its score is infinite and it is never picked while honest rows exist.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
use crate::kernels::dist::{Distances, pairwise};
use crate::{Bound, Result, Rows, tensor_ops};

simple_config!(
    /// Configuration of [`Krum`].
    KrumConfig => Krum, "krum", Bound::new(2, 3)
);

/// Krum scores over the rows `of` (indices into `dist`): for each, the sum of its
/// `max(|of| - f - 2, 0)` smallest squared distances to the others in `of`.
pub fn krum_scores(dist: &Distances, of: &[usize], f: usize) -> Vec<f64> {
    let m = of.len().saturating_sub(f + 2);
    of.iter()
        .map(|&i| {
            let mut near: Vec<f64> = of
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| dist.get(i, j))
                .collect();
            near.sort_by(f64::total_cmp);
            near[..m.min(near.len())].iter().sum()
        })
        .collect()
}

/// Positions in `scores` ordered by (score, position).
pub(crate) fn ranked(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

impl Krum {
    fn pick(&self, dist: &Distances) -> usize {
        let all: Vec<usize> = (0..dist.n()).collect();
        ranked(&krum_scores(dist, &all, self.f))[0]
    }
}

impl Kernels for Krum {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let best = self.pick(&pairwise(&all));
        Ok((rows.row(best).to_vec(), vec![best]))
    }

    fn subset(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![self.pick(dist)]))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let best = self.pick(&tensor_ops::pairwise(&inputs));
        Ok(Aggregation {
            value: tensor_ops::mean_of(inputs, &[best]),
            kept: vec![best],
        })
    }
}
