//! Max pooling on host `f32` slices (NCHW, contiguous), each window's winner recorded as its
//! index in the input plane for the backward pass, which adds each output's gradient to its
//! winner. Planes run in parallel on the rayon pool.
//!
//! The same rule as Burn's (Flex's) max pooling: padding never wins, the first maximum in
//! row-major window order wins a tie, and a NaN wins (the last NaN in the window). Why not
//! Burn's: through autodiff its forward and backward take 3-5x this time (BENCHMARKS.md,
//! issue 14).

use std::hint::select_unpredictable;

use rayon::prelude::*;

/// The geometry of one max pooling: square `k x k` windows, stride `stride`, padding `pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    /// Images times channels: the planes pooled independently.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
}

impl PoolShape {
    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output width.
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Whether every window holds at least one input element (padding smaller than the
    /// window; Burn also takes larger padding, whose all-padding windows these kernels leave to
    /// it) and the window fits the padded input.
    pub fn is_valid(&self) -> bool {
        self.k >= 1
            && self.stride >= 1
            && self.pad < self.k
            && self.k <= self.h + 2 * self.pad
            && self.k <= self.w + 2 * self.pad
    }
    /// The input range `[lo, hi)` that output `o` reads along a side of length `len`.
    fn window(&self, o: usize, len: usize) -> (usize, usize) {
        let start = o * self.stride;
        (
            start.saturating_sub(self.pad),
            (start + self.k).saturating_sub(self.pad).min(len),
        )
    }
}

/// The pooled values (`[planes, oh, ow]`) and, for each, its winner's index in its plane.
pub fn forward(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<i32>) {
    assert!(s.is_valid(), "max pool: {s:?} is not a valid pooling");
    assert_eq!(x.len(), s.planes * s.h * s.w, "max pool: input length");
    assert!(
        s.h * s.w <= i32::MAX as usize,
        "max pool: plane too large for i32 indices"
    );
    let (oh, ow) = (s.oh(), s.ow());
    let mut out = vec![0.0f32; s.planes * oh * ow];
    let mut winners = vec![0i32; s.planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(winners.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(s.h * s.w))
        .for_each(|((out, winners), plane)| {
            for oy in 0..oh {
                let (y0, y1) = s.window(oy, s.h);
                for ox in 0..ow {
                    let (x0, x1) = s.window(ox, s.w);
                    let mut best = y0 * s.w + x0;
                    let mut value = plane[best];
                    for y in y0..y1 {
                        let row = y * s.w;
                        for (i, &v) in plane[row + x0..row + x1].iter().enumerate() {
                            // Which element wins is unpredictable: a select, not a jump.
                            let take = v > value || v.is_nan();
                            value = select_unpredictable(take, v, value);
                            best = select_unpredictable(take, row + x0 + i, best);
                        }
                    }
                    out[oy * ow + ox] = value;
                    winners[oy * ow + ox] = best as i32;
                }
            }
        });
    (out, winners)
}

/// The input's gradient, planes of `plane_len` values: each output's gradient (`outputs` per
/// plane) added to its winner. A winner outside its plane (not one [`forward`] wrote) panics.
pub fn backward(plane_len: usize, outputs: usize, grad: &[f32], winners: &[i32]) -> Vec<f32> {
    assert!(
        outputs > 0 && grad.len().is_multiple_of(outputs),
        "max pool backward: grad length"
    );
    assert_eq!(
        winners.len(),
        grad.len(),
        "max pool backward: winners length"
    );
    let mut dx = super::zeros_written(grad.len() / outputs * plane_len);
    dx.par_chunks_mut(plane_len.max(1))
        .zip(grad.par_chunks(outputs).zip(winners.par_chunks(outputs)))
        .for_each(|(dx, (grad, winners))| {
            for (g, &i) in grad.iter().zip(winners) {
                dx[i as usize] += g;
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max pooling by its definition: every window position, padding as -inf, first max wins.
    fn naive(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<i32>) {
        let (oh, ow) = (s.oh(), s.ow());
        let (mut out, mut idx) = (Vec::new(), Vec::new());
        for p in 0..s.planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut at) = (f32::NEG_INFINITY, -1i64);
                    for i in 0..s.k {
                        for j in 0..s.k {
                            let (y, xx) = (
                                (oy * s.stride + i) as i64 - s.pad as i64,
                                (ox * s.stride + j) as i64 - s.pad as i64,
                            );
                            if y < 0 || xx < 0 || y >= s.h as i64 || xx >= s.w as i64 {
                                continue;
                            }
                            let v = x[p * s.h * s.w + (y as usize) * s.w + xx as usize];
                            if at < 0 || v > best || v.is_nan() {
                                best = v;
                                at = y * s.w as i64 + xx;
                            }
                        }
                    }
                    out.push(best);
                    idx.push(at as i32);
                }
            }
        }
        (out, idx)
    }

    /// Against the definition, with ties (values on a coarse grid) and a NaN, on CifarNet's
    /// pooling, the small CNN's and uneven ones. Checked to fail: with the window's end not
    /// clipped to the input (`.min(len)` dropped) a window reads past its plane, and with `>=`
    /// for `>` ties go to the last maximum (the first shape's winners differ).
    #[test]
    fn matches_the_definition() {
        let shapes = [
            (3, 2, 1, 8, 8),
            (2, 2, 0, 6, 6),
            (3, 2, 1, 7, 5),
            (2, 1, 1, 3, 4),
            (3, 3, 0, 9, 7),
        ];
        for (t, &(k, stride, pad, h, w)) in shapes.iter().enumerate() {
            let s = PoolShape {
                planes: 3,
                h,
                w,
                k,
                stride,
                pad,
            };
            let mut x: Vec<f32> = (0..s.planes * h * w)
                .map(|i| ((i * 37 + t * 11) % 7) as f32 - 3.0)
                .collect();
            x[5] = f32::NAN;
            let (out, idx) = forward(&s, &x);
            let (want, want_idx) = naive(&s, &x);
            assert_eq!(idx, want_idx, "{s:?}: winners");
            for (k, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    a == b || (a.is_nan() && b.is_nan()),
                    "{s:?}: [{k}] {a} vs {b}"
                );
            }
            let grad: Vec<f32> = (0..out.len()).map(|i| i as f32 + 1.0).collect();
            let dx = backward(h * w, s.oh() * s.ow(), &grad, &idx);
            let mut want_dx = vec![0.0f32; x.len()];
            for (p, (g, &i)) in grad.iter().zip(&idx).enumerate() {
                want_dx[p / (s.oh() * s.ow()) * h * w + i as usize] += g;
            }
            assert_eq!(dx, want_dx, "{s:?}: gradient");
        }
    }
}
