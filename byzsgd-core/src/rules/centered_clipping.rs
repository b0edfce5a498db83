//! Centered clipping: from the coordinate-wise median `v`, `iterations` times (default 3)
//! `v <- v + mean_i clip_τ(x_i - v)`, where `clip_τ(y) = y · min(1, τ/‖y‖)`. τ defaults to the
//! median of `‖x_i - v‖` at the starting `v`, computed once. Bound: `n >= 2f+1`. A row with NaN or
//! ±Inf is infinitely far and has no direction to clip to: it contributes zero to the mean.

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::geometric_median::distance;
use crate::aggregator::{Aggregation, Kernels, builtin_aggregator};
use crate::kernels::CHUNK;
use crate::kernels::coord::{Coord, coordinatewise};
use crate::{Bound, Error, Exec, Result, Rows, tensor_ops};

const BOUND: Bound = Bound::new(2, 1);

/// Configuration of [`CenteredClipping`].
#[derive(Debug, Clone, PartialEq)]
pub struct CenteredClippingConfig {
    /// Number of inputs the rule will receive.
    pub n: usize,
    /// Declared Byzantine inputs.
    pub f: usize,
    /// Clipping radius; `None`: the median distance to the starting point.
    pub tau: Option<f64>,
    /// Clipping rounds (default 3).
    pub iterations: usize,
    /// Which implementation runs.
    pub exec: Exec,
}

impl CenteredClippingConfig {
    /// `n` inputs, `f` Byzantine, the defaults of ALGORITHMS.md.
    pub fn new(n: usize, f: usize) -> Self {
        Self {
            n,
            f,
            tau: None,
            iterations: 3,
            exec: Exec::Auto,
        }
    }

    /// Picks the implementation.
    pub fn with_exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// Checks `n >= 2f+1` and the options, and builds the rule.
    pub fn init(&self) -> Result<CenteredClipping> {
        BOUND.check("centered-clipping", self.n, self.f)?;
        if let Some(tau) = self.tau
            && !(tau >= 0.0 && tau.is_finite())
        {
            return Err(Error::Config(format!(
                "centered-clipping needs a finite tau >= 0, got {tau}"
            )));
        }
        Ok(CenteredClipping {
            f: self.f,
            tau: self.tau,
            iterations: self.iterations,
            exec: self.exec,
        })
    }
}

/// Centered clipping, built by [`CenteredClippingConfig`].
#[derive(Debug, Clone)]
pub struct CenteredClipping {
    f: usize,
    tau: Option<f64>,
    iterations: usize,
    exec: Exec,
}

builtin_aggregator!(CenteredClipping, "centered-clipping", BOUND);

impl CenteredClipping {
    /// τ, and each row's scale `min(1, τ/‖x_i - v‖) / n` (0 for non-finite rows).
    fn scales(&self, dists: &[f64], tau: f64) -> Vec<f32> {
        let n = dists.len() as f64;
        dists
            .iter()
            .map(|&d| {
                let s = if !d.is_finite() {
                    0.0
                } else if d <= tau {
                    1.0
                } else {
                    tau / d
                };
                (s / n) as f32
            })
            .collect()
    }

    fn tau_from(&self, dists: &[f64]) -> f64 {
        self.tau.unwrap_or_else(|| {
            let mut sorted = dists.to_vec();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            if n % 2 == 1 {
                sorted[n / 2]
            } else {
                0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
            }
        })
    }
}

impl Kernels for CenteredClipping {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let finite: Vec<bool> = (0..rows.n()).map(|i| rows.row_is_finite(i)).collect();
        let mut v = coordinatewise(&all, Coord::Median);
        let mut tau = None;
        for _ in 0..self.iterations {
            let dists: Vec<f64> = all
                .par_iter()
                .zip(&finite)
                .map(|(r, &ok)| if ok { distance(r, &v) } else { f64::INFINITY })
                .collect();
            let t = *tau.get_or_insert_with(|| self.tau_from(&dists));
            let s = self.scales(&dists, t);
            v.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
                let at = c * CHUNK;
                let base = out.to_vec();
                for (row, &si) in all.iter().zip(&s) {
                    if si == 0.0 {
                        continue;
                    }
                    for ((o, &b), &x) in out.iter_mut().zip(&base).zip(&row[at..at + base.len()]) {
                        *o += si * (x - b);
                    }
                }
            });
        }
        Ok((v, (0..rows.n()).filter(|&i| finite[i]).collect()))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let [n, _] = inputs.dims();
        let finite = tensor_ops::finite_rows(&inputs);
        let clean = inputs
            .clone()
            .mask_fill(inputs.clone().is_finite().bool_not(), 0.0);
        let mut v = tensor_ops::coordinatewise(inputs, Coord::Median);
        let device = clean.device();
        let mut tau = None;
        for _ in 0..self.iterations {
            let diff = clean.clone() - v.clone().unsqueeze_dim::<2>(0);
            let dists = tensor_ops::distances(diff.clone(), &finite);
            let t = *tau.get_or_insert_with(|| self.tau_from(&dists));
            let s = self.scales(&dists, t);
            let s = Tensor::<1>::from_data(burn::tensor::TensorData::new(s, [n]), &device)
                .unsqueeze_dim::<2>(1);
            v = v + (diff * s).sum_dim(0).squeeze_dim::<1>(0);
        }
        Ok(Aggregation {
            value: v,
            kept: (0..n).filter(|&i| finite[i]).collect(),
        })
    }
}
