//! Geometric median by smoothed Weiszfeld iterations, started from the coordinate-wise median:
//! `z <- Σ w_i x_i / Σ w_i` with `w_i = 1 / max(ν, ‖x_i - z‖)`, until the relative change is
//! below `tol` or after `max_iter` rounds. Bound: `n >= 2f+1`. Rows with NaN or ±Inf are
//! infinitely far, so their weight is zero: they never enter the sum.

use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::aggregator::{Aggregation, Kernels, builtin_aggregator};
use crate::kernels::CHUNK;
use crate::kernels::coord::{Coord, coordinatewise};
use crate::{Bound, Error, Exec, Result, Rows, tensor_ops};

const BOUND: Bound = Bound::new(2, 1);

/// Configuration of [`GeometricMedian`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeometricMedianConfig {
    /// Number of inputs the rule will receive.
    pub n: usize,
    /// Declared Byzantine inputs.
    pub f: usize,
    /// Smoothing ν: distances below it count as ν (default 1e-6).
    pub nu: f64,
    /// Stop when `‖z' - z‖ <= tol ‖z‖` (default 1e-6).
    pub tol: f64,
    /// At most this many iterations (default 100).
    pub max_iter: usize,
    /// Which implementation runs.
    pub exec: Exec,
}

impl GeometricMedianConfig {
    /// `n` inputs, `f` Byzantine, the defaults of ALGORITHMS.md.
    pub fn new(n: usize, f: usize) -> Self {
        Self {
            n,
            f,
            nu: 1e-6,
            tol: 1e-6,
            max_iter: 100,
            exec: Exec::Auto,
        }
    }

    /// Picks the implementation.
    pub fn with_exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// Checks `n >= 2f+1` and the options, and builds the rule.
    pub fn init(&self) -> Result<GeometricMedian> {
        BOUND.check("geometric-median", self.n, self.f)?;
        if !(self.nu > 0.0 && self.nu.is_finite() && self.tol >= 0.0 && self.max_iter >= 1) {
            return Err(Error::Config(format!(
                "geometric-median needs nu > 0, tol >= 0 and max_iter >= 1, got nu = {}, tol = {}, max_iter = {}",
                self.nu, self.tol, self.max_iter
            )));
        }
        Ok(GeometricMedian {
            f: self.f,
            nu: self.nu,
            tol: self.tol,
            max_iter: self.max_iter,
            exec: self.exec,
        })
    }
}

/// The geometric median, built by [`GeometricMedianConfig`].
#[derive(Debug, Clone)]
pub struct GeometricMedian {
    f: usize,
    nu: f64,
    tol: f64,
    max_iter: usize,
    exec: Exec,
}

builtin_aggregator!(GeometricMedian, "geometric-median", BOUND);

/// Euclidean distance in f64 (huge finite values do not overflow).
pub(crate) fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Normalised weights `w_i / Σ w` for rows at `distances` (infinite distance: weight 0).
pub(crate) fn weiszfeld_weights(distances: &[f64], nu: f64) -> Vec<f64> {
    let raw: Vec<f64> = distances
        .iter()
        .map(|&d| if d.is_finite() { 1.0 / d.max(nu) } else { 0.0 })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| w / total).collect()
}

impl Kernels for GeometricMedian {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let finite: Vec<bool> = (0..rows.n()).map(|i| rows.row_is_finite(i)).collect();
        let mut z = coordinatewise(&all, Coord::Median);
        for _ in 0..self.max_iter {
            let dists: Vec<f64> = all
                .par_iter()
                .zip(&finite)
                .map(|(r, &ok)| if ok { distance(r, &z) } else { f64::INFINITY })
                .collect();
            let w: Vec<f32> = weiszfeld_weights(&dists, self.nu)
                .into_iter()
                .map(|w| w as f32)
                .collect();
            let mut next = vec![0.0f32; z.len()];
            next.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
                let span = c * CHUNK..c * CHUNK + out.len();
                for (row, &wi) in all.iter().zip(&w) {
                    if wi == 0.0 {
                        continue;
                    }
                    for (o, &x) in out.iter_mut().zip(&row[span.clone()]) {
                        *o += wi * x;
                    }
                }
            });
            let change = distance(&next, &z);
            let scale = distance(&z, &vec![0.0; z.len()]);
            z = next;
            if change <= self.tol * scale {
                break;
            }
        }
        Ok((z, (0..rows.n()).filter(|&i| finite[i]).collect()))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let [n, _] = inputs.dims();
        let finite = tensor_ops::finite_rows(&inputs);
        let clean = inputs
            .clone()
            .mask_fill(inputs.clone().is_finite().bool_not(), 0.0);
        let mut z = tensor_ops::coordinatewise(inputs, Coord::Median);
        let device = clean.device();
        for _ in 0..self.max_iter {
            let diff = clean.clone() - z.clone().unsqueeze_dim::<2>(0);
            let dists = tensor_ops::distances(diff.clone(), &finite);
            let w: Vec<f32> = weiszfeld_weights(&dists, self.nu)
                .into_iter()
                .map(|w| w as f32)
                .collect();
            let w = Tensor::<1>::from_data(burn::tensor::TensorData::new(w, [n]), &device)
                .unsqueeze_dim::<2>(1);
            let next = (clean.clone() * w).sum_dim(0).squeeze_dim::<1>(0);
            let change = tensor_ops::host_f32((next.clone() - z.clone()).square().sum())[0] as f64;
            let scale = tensor_ops::host_f32(z.clone().square().sum())[0] as f64;
            z = next;
            if change.sqrt() <= self.tol * scale.sqrt() {
                break;
            }
        }
        Ok(Aggregation {
            value: z,
            kept: (0..n).filter(|&i| finite[i]).collect(),
        })
    }
}
