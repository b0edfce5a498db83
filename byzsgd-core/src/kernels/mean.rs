//! Means of selected rows: the Average rule, and the final step of Krum, Multi-Krum and MDA; and
//! weighted sums of rows: NNM's mixed rows averaged by the rule behind it, in one pass.

use std::mem::MaybeUninit;

use super::{filled, multiversion};

/// Coordinate-wise mean of `rows` (f32 sums; fine for the `n` of a cluster).
pub(crate) fn mean_rows(rows: &[&[f32]]) -> Vec<f32> {
    let scale = 1.0 / rows.len() as f32;
    // SAFETY: `sum_generic` starts by copying its whole chunk from the first row.
    unsafe {
        filled(rows[0].len(), |start, chunk| {
            sum_kernel(rows, start, chunk, scale)
        })
    }
}

/// `Σ weights[i] · rows[i]`, coordinate-wise, in f32 (fused multiply-adds where the CPU has
/// them), rows in order. A row whose weight is zero is not read, so a non-finite row with weight
/// zero leaves the sum finite. At least one weight must be non-zero.
pub(crate) fn weighted_sum(rows: &[&[f32]], weights: &[f32]) -> Vec<f32> {
    assert_eq!(rows.len(), weights.len());
    let (used, w): (Vec<&[f32]>, Vec<f32>) = rows
        .iter()
        .zip(weights)
        .filter(|&(_, &w)| w != 0.0)
        .map(|(&r, &w)| (r, w))
        .unzip();
    assert!(!used.is_empty(), "a weighted sum needs a non-zero weight");
    // SAFETY: `weighted_generic` starts by writing its whole chunk from the first row.
    unsafe {
        filled(used[0].len(), |start, chunk| {
            weighted_kernel(&used, &w, start, chunk)
        })
    }
}

multiversion!(fn sum_kernel(rows: &[&[f32]], start: usize, out: &mut [MaybeUninit<f32>], scale: f32) => sum_generic);

#[inline(always)]
fn sum_generic(rows: &[&[f32]], start: usize, out: &mut [MaybeUninit<f32>], scale: f32) {
    let end = start + out.len();
    let out = out.write_copy_of_slice(&rows[0][start..end]);
    for row in &rows[1..] {
        for (o, &v) in out.iter_mut().zip(&row[start..end]) {
            *o += v;
        }
    }
    for o in out.iter_mut() {
        *o *= scale;
    }
}

multiversion!(fn weighted_kernel(rows: &[&[f32]], weights: &[f32], start: usize, out: &mut [MaybeUninit<f32>]) => weighted_generic);

#[inline(always)]
fn weighted_generic(rows: &[&[f32]], weights: &[f32], start: usize, out: &mut [MaybeUninit<f32>]) {
    let end = start + out.len();
    for (o, &v) in out.iter_mut().zip(&rows[0][start..end]) {
        o.write(weights[0] * v);
    }
    // SAFETY: every element was written just above.
    let out = unsafe { out.assume_init_mut() };
    for (row, &w) in rows[1..].iter().zip(&weights[1..]) {
        for (o, &v) in out.iter_mut().zip(&row[start..end]) {
            // Fused: the same result on every CPU (a library call, slower, on an x86 without
            // FMA, where the baseline build runs).
            *o = w.mul_add(v, *o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::CHUNK;

    /// Several chunks and a ragged tail, so every chunk's first write is exercised. Both tests
    /// below were seen failing with `filled` handing each chunk the wrong start coordinate.
    const D: usize = 2 * CHUNK + 37;

    fn rows(n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| (0..D).map(|j| (i * 31 + j % 97) as f32 * 0.25).collect())
            .collect()
    }

    #[test]
    fn mean_rows_is_the_mean() {
        let owned = rows(3);
        let refs: Vec<&[f32]> = owned.iter().map(|r| r.as_slice()).collect();
        let mean = mean_rows(&refs);
        for j in [0, CHUNK - 1, CHUNK, D - 1] {
            let expected = (owned[0][j] + owned[1][j] + owned[2][j]) / 3.0;
            assert!((mean[j] - expected).abs() <= 1e-5 * expected.abs(), "{j}");
        }
        assert_eq!(mean.len(), D);
    }

    /// Zero weights skip their rows: a NaN row weighted zero leaves the sum finite. Seen failing
    /// with the zero-weight rows kept (0 · NaN is NaN).
    #[test]
    fn weighted_sum_weighs_and_skips_zero_weights() {
        let mut owned = rows(3);
        owned[1] = vec![f32::NAN; D];
        let refs: Vec<&[f32]> = owned.iter().map(|r| r.as_slice()).collect();
        let sum = weighted_sum(&refs, &[0.5, 0.0, 2.0]);
        assert_eq!(sum.len(), D);
        for j in [0, CHUNK - 1, CHUNK, D - 1] {
            let expected = 0.5 * owned[0][j] + 2.0 * owned[2][j];
            assert!(
                (sum[j] - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                "{j}"
            );
        }
    }
}
