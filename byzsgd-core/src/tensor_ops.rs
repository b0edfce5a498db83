//! The device-independent implementations, in Burn tensor ops: they run wherever the tensors are
//! (GPU included) and define the same results as the CPU kernels, which the conformance suite
//! checks on both. Small decisions (which rows to keep) are made on the host from an `n x n`
//! distance matrix; everything `O(n d)` stays on the device.

use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::kernels::coord::{Center, Coord};
use crate::kernels::dist::Distances;

/// NaN read as +inf, as the coordinate-wise rules order it.
pub(crate) fn nan_as_inf(x: Tensor<2>) -> Tensor<2> {
    let nan = x.clone().is_nan();
    x.mask_fill(nan, f32::INFINITY)
}

/// Per row, whether every value is finite.
pub(crate) fn finite_rows(x: &Tensor<2>) -> Vec<bool> {
    let bad: Tensor<2, Bool> = x.clone().is_finite().bool_not().any_dim(1);
    bad.into_data().iter::<bool>().map(|b| !b).collect()
}

/// A host vector of f32 read back from a 1-D or 2-D tensor.
pub(crate) fn host_f32<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().iter::<f32>().collect()
}

/// Squared L2 norm of each row, in f64 and without overflow: each row is scaled by its largest
/// magnitude on the device, so huge finite values (1e30) give 1e60, not +inf.
pub(crate) fn row_norms_sq(rows: Tensor<2>) -> Vec<f64> {
    let scale = rows.clone().abs().max_dim(1);
    let safe = scale.clone().mask_fill(scale.clone().equal_elem(0.0), 1.0);
    let sums = host_f32((rows / safe).square().sum_dim(1));
    let scale = host_f32(scale);
    sums.iter()
        .zip(&scale)
        .map(|(&s, &m)| s as f64 * (m as f64) * (m as f64))
        .collect()
}

/// Each row's L2 norm in f64, `+inf` for rows marked not finite.
pub(crate) fn distances(rows: Tensor<2>, finite: &[bool]) -> Vec<f64> {
    row_norms_sq(rows)
        .iter()
        .zip(finite)
        .map(|(&s, &ok)| if ok { s.sqrt() } else { f64::INFINITY })
        .collect()
}

/// Squared distances between all rows, from differences (one `[n, d]` pass per row).
pub(crate) fn pairwise(x: &Tensor<2>) -> Distances {
    let [n, _] = x.dims();
    let finite = finite_rows(x);
    let clean = x.clone().mask_fill(x.clone().is_finite().bool_not(), 0.0);
    let mut d2 = vec![0.0f64; n * n];
    for i in 0..n {
        let row = clean.clone().narrow(0, i, 1);
        let sq = row_norms_sq(clean.clone() - row);
        for (j, v) in sq.into_iter().enumerate() {
            d2[i * n + j] = if i == j { 0.0 } else { v };
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            let v = (d2[i * n + j] + d2[j * n + i]) * 0.5;
            d2[i * n + j] = v;
            d2[j * n + i] = v;
        }
    }
    let mut out = Distances::from_squared(n, d2);
    for (i, ok) in finite.iter().enumerate() {
        if !ok {
            out.set_infinitely_far(i);
        }
    }
    out
}

/// Mean of the rows `idx` of `x`.
pub(crate) fn mean_of(x: Tensor<2>, idx: &[usize]) -> Tensor<1> {
    let device = x.device();
    let ids: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [idx.len()]), &device);
    x.select(0, ids).mean_dim(0).squeeze_dim(0)
}

/// A coordinate-wise rule in tensor ops: sort each column (with the senders' indices, for the
/// tie-break), then reduce as [`Coord`] says.
pub(crate) fn coordinatewise(x: Tensor<2>, rule: Coord) -> Tensor<1> {
    let [n, _] = x.dims();
    let (sorted, idx) = nan_as_inf(x).sort_with_indices(0);
    let median = |s: &Tensor<2>| {
        if n % 2 == 1 {
            s.clone().narrow(0, n / 2, 1)
        } else {
            s.clone().narrow(0, n / 2 - 1, 1).mul_scalar(0.5)
                + s.clone().narrow(0, n / 2, 1).mul_scalar(0.5)
        }
    };
    let trimmed = |s: &Tensor<2>, f: usize| s.clone().narrow(0, f, n - 2 * f).mean_dim(0);
    let out = match rule {
        Coord::Median => median(&sorted),
        Coord::TrimmedMean(f) => trimmed(&sorted, f),
        Coord::Closest { k, center } => {
            let c = match center {
                Center::Median => median(&sorted),
                Center::TrimmedMean(f) => trimmed(&sorted, f),
            };
            let idx = idx.float();
            let mut shift = c.zeros_like();
            for t in 1..=n - k {
                let left = sorted.clone().narrow(0, t - 1, 1);
                let right = sorted.clone().narrow(0, t + k - 1, 1);
                let dl = c.clone() - left.clone();
                let dr = right.clone() - c.clone();
                let lower_right = idx
                    .clone()
                    .narrow(0, t + k - 1, 1)
                    .lower(idx.clone().narrow(0, t - 1, 1));
                let tie = dl
                    .clone()
                    .equal(dr.clone())
                    .bool_and(left.not_equal(right))
                    .bool_and(lower_right);
                shift = shift + dl.greater(dr).bool_or(tie).float();
            }
            let device = sorted.device();
            let pos = Tensor::<1, Int>::arange(0..n as i64, &device)
                .float()
                .unsqueeze_dim::<2>(1);
            let inside = pos
                .clone()
                .greater_equal(shift.clone())
                .bool_and(pos.lower(shift.add_scalar(k as f32)));
            sorted
                .mask_fill(inside.bool_not(), 0.0)
                .sum_dim(0)
                .div_scalar(k as f32)
        }
    };
    out.squeeze_dim(0)
}
