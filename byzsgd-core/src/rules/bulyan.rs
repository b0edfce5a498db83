//! Bulyan: pick `θ = n-2f` inputs by repeated Krum (each round Krum over the inputs not yet
//! picked, with the same `f`; score ties, which the last rounds make structural (with `f = 1` the
//! last round scores every candidate 0), go to the smaller sum of distances to all candidates,
//! then to the lexicographically smaller vector, so the choice does not depend on sender order),
//! then per coordinate average the `β = θ-2f` picked values closest
//! to their median. Bound: `n >= 4f+3`. Rows with NaN or ±Inf have infinite Krum scores, so they
//! are picked only after every finite row, which `θ <= n-f` never reaches.

use burn::tensor::Tensor;

use std::cmp::Ordering;

use super::krum::krum_scores;
use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
use crate::kernels::coord::{Center, Coord, coordinatewise};
use crate::kernels::dist::{Distances, pairwise};
use crate::{Bound, Result, Rows, tensor_ops};

simple_config!(
    /// Configuration of [`Bulyan`].
    BulyanConfig => Bulyan, "bulyan", Bound::new(4, 3)
);

impl Bulyan {
    /// The `n-2f` inputs picked by repeated Krum, in ascending order.
    /// `content(a, b)` orders rows `a` and `b` by their values (the last tie-break).
    fn select(&self, dist: &Distances, content: impl Fn(usize, usize) -> Ordering) -> Vec<usize> {
        let n = dist.n();
        let mut left: Vec<usize> = (0..n).collect();
        let mut picked = Vec::with_capacity(n - 2 * self.f);
        while picked.len() < n - 2 * self.f {
            let scores = krum_scores(dist, &left, self.f);
            let spread: Vec<f64> = left
                .iter()
                .map(|&i| left.iter().map(|&j| dist.get(i, j)).sum())
                .collect();
            let best = (0..left.len())
                .min_by(|&a, &b| {
                    scores[a]
                        .total_cmp(&scores[b])
                        .then(spread[a].total_cmp(&spread[b]))
                        .then_with(|| content(left[a], left[b]))
                })
                .expect("candidates left");
            picked.push(left.remove(best));
        }
        picked.sort_unstable();
        picked
    }

    fn coord(&self, picked: usize) -> Coord {
        Coord::Closest {
            k: picked - 2 * self.f,
            center: Center::Median,
        }
    }
}

impl Kernels for Bulyan {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let picked = self.select(&pairwise(&all), |a, b| lexicographic(all[a], all[b]));
        let sub: Vec<&[f32]> = picked.iter().map(|&i| rows.row(i)).collect();
        Ok((coordinatewise(&sub, self.coord(picked.len())), picked))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let row = |i: usize| tensor_ops::host_f32(inputs.clone().narrow(0, i, 1));
        let picked = self.select(&tensor_ops::pairwise(&inputs), |a, b| {
            lexicographic(&row(a), &row(b))
        });
        let device = inputs.device();
        let ids: Vec<i64> = picked.iter().map(|&i| i as i64).collect();
        let ids = Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(ids, [picked.len()]),
            &device,
        );
        let value = tensor_ops::coordinatewise(inputs.select(0, ids), self.coord(picked.len()));
        Ok(Aggregation {
            value,
            kept: picked,
        })
    }
}

/// Orders two vectors by their values, NaN last (`total_cmp`).
fn lexicographic(a: &[f32], b: &[f32]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}
