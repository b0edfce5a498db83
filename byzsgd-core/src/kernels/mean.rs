//! Means of selected rows: the Average rule, and the final step of Krum, Multi-Krum and MDA.

use rayon::prelude::*;

use super::{CHUNK, multiversion};

/// Coordinate-wise mean of `rows` (f32 sums; fine for the `n` of a cluster).
pub(crate) fn mean_rows(rows: &[&[f32]]) -> Vec<f32> {
    let d = rows[0].len();
    let mut out = vec![0.0f32; d];
    let scale = 1.0 / rows.len() as f32;
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            sum_kernel(rows, c * CHUNK, chunk, scale);
        });
    out
}

multiversion!(fn sum_kernel(rows: &[&[f32]], start: usize, out: &mut [f32], scale: f32) => sum_generic);

#[inline(always)]
fn sum_generic(rows: &[&[f32]], start: usize, out: &mut [f32], scale: f32) {
    let end = start + out.len();
    out.copy_from_slice(&rows[0][start..end]);
    for row in &rows[1..] {
        for (o, &v) in out.iter_mut().zip(&row[start..end]) {
            *o += v;
        }
    }
    for o in out.iter_mut() {
        *o *= scale;
    }
}
