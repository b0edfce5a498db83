//! A stride-1, dilation-1, zero-padded 2-D convolution on host `f32` slices (NCHW, contiguous):
//! one image at a time as an unfold (`im2col`) and one matrix multiply, and the backward pass as
//! two matrix multiplies and a fold (`col2im`).
//!
//! Per image the column matrix is `[c_in * kh * kw, oh * ow]` (row `(c, i, j)`, the weight's own
//! flattening, so the weight needs no permute), at CifarNet's second layer 1.6 MB: it stays in
//! cache, where a whole batch's would be 52 MB. The batch is split across the rayon pool, each
//! thread running single-threaded `gemm` calls on its own images with its own column buffer; the
//! weight gradient is a per-thread partial sum, added up at the end.
//!
//! Why not Burn's: flex's forward is already an unfold and a gemm, but the autodiff backward of a
//! convolution goes through the backend's defaults, a transposed convolution for the input and,
//! for the weight, a convolution of the input by the output gradient (a 16x16 "kernel"), both far
//! slower than the two multiplies here (BENCHMARKS.md, issue 14).

use rayon::prelude::*;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl ConvShape {
    /// The convolution of an `x`-shaped input (`[batch, c_in, h, w]`) by a `weight`-shaped
    /// kernel (`[c_out, c_in, kh, kw]`) padded by `pad`, or `None` where the channels disagree or
    /// the kernel does not fit the padded input.
    pub fn of(x: [usize; 4], weight: [usize; 4], pad: usize) -> Option<Self> {
        let [batch, c_in, h, w] = x;
        let [c_out, w_in, kh, kw] = weight;
        let s = Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            pad,
        };
        (w_in == c_in && s.is_valid()).then_some(s)
    }
    /// Output height.
    pub fn oh(&self) -> usize {
        self.h + 2 * self.pad + 1 - self.kh
    }
    /// Output width.
    pub fn ow(&self) -> usize {
        self.w + 2 * self.pad + 1 - self.kw
    }
    /// Rows of the column matrix (`c_in * kh * kw`), the inner dimension of the multiply.
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Output positions per image (`oh * ow`).
    fn n(&self) -> usize {
        self.oh() * self.ow()
    }
    fn image_in(&self) -> usize {
        self.c_in * self.h * self.w
    }
    fn image_out(&self) -> usize {
        self.c_out * self.n()
    }
    /// Whether the kernel fits the padded input (the output is at least 1x1).
    pub fn is_valid(&self) -> bool {
        self.kh >= 1
            && self.kw >= 1
            && self.kh <= self.h + 2 * self.pad
            && self.kw <= self.w + 2 * self.pad
    }
    /// The columns `[x0, x1)` of an output row that tap column `j` reads inside the input (the
    /// rest read padding), and the input column that `x0` reads (at most `w`, where the range is
    /// empty: a tap that lands only in padding, as when the kernel is wider than the input and
    /// one side's padding).
    fn inside(&self, j: usize) -> (usize, usize, usize) {
        let ow = self.ow();
        let x0 = self.pad.saturating_sub(j).min(ow);
        let x1 = (self.w + self.pad).saturating_sub(j).min(ow).max(x0);
        (x0, x1, (x0 + j).saturating_sub(self.pad).min(self.w))
    }
}

/// Every row of the column matrix (`[c_in * kh * kw, oh * ow]`), one output row at a time:
/// `f(at, src, x0, x1)`, where `at` is where that output row starts in the matrix, `src` where
/// the input row it reads starts in the image (`None` where it reads padding only), and
/// `[x0, x1)` the output columns that land inside the input (`src` is input column `x0`'s).
fn for_each_tap_row(s: &ConvShape, mut f: impl FnMut(usize, Option<usize>, usize, usize)) {
    let (oh, ow) = (s.oh(), s.ow());
    let mut at = 0;
    for c in 0..s.c_in {
        for i in 0..s.kh {
            for j in 0..s.kw {
                let (x0, x1, src0) = s.inside(j);
                for y in 0..oh {
                    let yy = (y + i).wrapping_sub(s.pad);
                    let src = (yy < s.h).then(|| (c * s.h + yy) * s.w + src0);
                    f(at, src, x0, x1);
                    at += ow;
                }
            }
        }
    }
}

/// Unfolds one image (`[c_in, h, w]`) into `cols` (`[c_in * kh * kw, oh * ow]`).
fn im2col(s: &ConvShape, image: &[f32], cols: &mut [f32]) {
    let ow = s.ow();
    for_each_tap_row(s, |at, src, x0, x1| {
        let out = &mut cols[at..][..ow];
        match src {
            None => out.fill(0.0),
            Some(src) => {
                out[..x0].fill(0.0);
                out[x0..x1].copy_from_slice(&image[src..][..x1 - x0]);
                out[x1..].fill(0.0);
            }
        }
    });
}

/// Folds `cols` (`[c_in * kh * kw, oh * ow]`) back into one image's gradient (`[c_in, h, w]`),
/// adding every tap's contribution; `image` must start zeroed.
fn col2im_add(s: &ConvShape, cols: &[f32], image: &mut [f32]) {
    for_each_tap_row(s, |at, src, x0, x1| {
        if let Some(src) = src {
            let to = &mut image[src..][..x1 - x0];
            for (t, f) in to.iter_mut().zip(&cols[at + x0..at + x1]) {
                *t += f;
            }
        }
    });
}

/// `dst (m x n) = [dst +] lhs (m x k) · rhs (k x n)`, each given by its row and column strides,
/// on the calling thread.
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    let last = |rs: usize, cs: usize, rows: usize, cols: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(dst.len() >= last(dst_rs, 1, m, n), "matmul: dst too short");
    assert!(
        lhs.len() >= last(lhs_rs, lhs_cs, m, k),
        "matmul: lhs too short"
    );
    assert!(
        rhs.len() >= last(rhs_rs, rhs_cs, k, n),
        "matmul: rhs too short"
    );
    // SAFETY: the three asserts above bound every element the strides reach inside its slice;
    // `dst` is borrowed mutably and so does not alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The images each rayon thread takes: the batch in as many contiguous runs as there are
/// threads (never empty).
fn per_thread(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// The convolution of `x` (`[batch, c_in, h, w]`) with `weight` (`[c_out, c_in, kh, kw]`) plus
/// `bias` (`[c_out]`): `[batch, c_out, oh, ow]`.
pub fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    check(s, x.len(), s.batch * s.image_out());
    assert_eq!(weight.len(), s.c_out * s.k(), "conv: weight length");
    assert_eq!(bias.len(), s.c_out, "conv: bias length");
    let (k, n) = (s.k(), s.n());
    let mut out = vec![0.0f32; s.batch * s.image_out()];
    let chunk = per_thread(s.batch);
    out.par_chunks_mut(chunk * s.image_out())
        .zip(x.par_chunks(chunk * s.image_in()))
        .for_each(|(out, x)| {
            let mut cols = vec![0.0f32; k * n];
            for (out, image) in out
                .chunks_exact_mut(s.image_out())
                .zip(x.chunks_exact(s.image_in()))
            {
                im2col(s, image, &mut cols);
                for (row, b) in out.chunks_exact_mut(n).zip(bias) {
                    row.fill(*b);
                }
                matmul((s.c_out, n, k), out, n, true, weight, (k, 1), &cols, (n, 1));
            }
        });
    out
}

/// The gradients of [`forward`]'s weight (`[c_out, c_in, kh, kw]`) and bias (`[c_out]`), given
/// its input and the gradient of its output (`[batch, c_out, oh, ow]`).
pub fn weight_backward(s: &ConvShape, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    check(s, x.len(), grad.len());
    let (k, n) = (s.k(), s.n());
    let chunk = per_thread(s.batch);
    let partials: Vec<Vec<f32>> = x
        .par_chunks(chunk * s.image_in())
        .zip(grad.par_chunks(chunk * s.image_out()))
        .map(|(x, grad)| {
            let mut cols = vec![0.0f32; k * n];
            let mut grad_w = vec![0.0f32; s.c_out * k];
            for (b, (image, g)) in x
                .chunks_exact(s.image_in())
                .zip(grad.chunks_exact(s.image_out()))
                .enumerate()
            {
                // dW [c_out, k] (+)= g [c_out, n] · colsᵀ [n, k]
                im2col(s, image, &mut cols);
                matmul(
                    (s.c_out, k, n),
                    &mut grad_w,
                    k,
                    b > 0,
                    g,
                    (n, 1),
                    &cols,
                    (1, n),
                );
            }
            grad_w
        })
        .collect();
    let mut grad_w = vec![0.0f32; s.c_out * k];
    for partial in &partials {
        for (t, p) in grad_w.iter_mut().zip(partial) {
            *t += p;
        }
    }
    let mut grad_b = vec![0.0f32; s.c_out];
    for g in grad.chunks_exact(s.image_out()) {
        for (t, row) in grad_b.iter_mut().zip(g.chunks_exact(n)) {
            *t += row.iter().sum::<f32>();
        }
    }
    (grad_w, grad_b)
}

/// The gradient of [`forward`]'s input (`[batch, c_in, h, w]`), given its weight and the
/// gradient of its output (`[batch, c_out, oh, ow]`).
pub fn input_backward(s: &ConvShape, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    check(s, s.batch * s.image_in(), grad.len());
    assert_eq!(weight.len(), s.c_out * s.k(), "conv: weight length");
    let (k, n) = (s.k(), s.n());
    let chunk = per_thread(s.batch);
    let mut grad_x = super::zeros_written(s.batch * s.image_in());
    grad_x
        .par_chunks_mut(chunk * s.image_in())
        .zip(grad.par_chunks(chunk * s.image_out()))
        .for_each(|(dx, grad)| {
            let mut cols = vec![0.0f32; k * n];
            for (dx, g) in dx
                .chunks_exact_mut(s.image_in())
                .zip(grad.chunks_exact(s.image_out()))
            {
                // dcols [k, n] = Wᵀ [k, c_out] · g [c_out, n], folded back into dx.
                matmul(
                    (k, n, s.c_out),
                    &mut cols,
                    n,
                    false,
                    weight,
                    (1, k),
                    g,
                    (n, 1),
                );
                col2im_add(s, &cols, dx);
            }
        });
    grad_x
}

fn check(s: &ConvShape, x_len: usize, out_len: usize) {
    assert!(
        s.is_valid(),
        "conv: a {s:?} kernel does not fit its padded input"
    );
    assert_eq!(x_len, s.batch * s.image_in(), "conv: input length");
    assert_eq!(out_len, s.batch * s.image_out(), "conv: output length");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, in f64.
    fn naive(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let (oh, ow) = (s.oh(), s.ow());
        let mut out = vec![0.0f64; s.batch * s.c_out * oh * ow];
        for n in 0..s.batch {
            for o in 0..s.c_out {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut acc = b[o] as f64;
                        for c in 0..s.c_in {
                            for i in 0..s.kh {
                                for j in 0..s.kw {
                                    let (yy, xx) = (y + i, xo + j);
                                    if yy < s.pad || xx < s.pad {
                                        continue;
                                    }
                                    let (yy, xx) = (yy - s.pad, xx - s.pad);
                                    if yy >= s.h || xx >= s.w {
                                        continue;
                                    }
                                    acc += x[((n * s.c_in + c) * s.h + yy) * s.w + xx] as f64
                                        * w[((o * s.c_in + c) * s.kh + i) * s.kw + j] as f64;
                                }
                            }
                        }
                        out[((n * s.c_out + o) * oh + y) * ow + xo] = acc;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{k}]: {x} vs {y}"
            );
        }
    }

    fn shapes() -> Vec<ConvShape> {
        let s = |batch, c_in, h, w, c_out, kh, kw, pad| {
            ConvShape::of([batch, c_in, h, w], [c_out, c_in, kh, kw], pad).expect("a valid shape")
        };
        vec![
            s(3, 2, 7, 6, 4, 5, 5, 2),
            s(2, 3, 5, 5, 2, 3, 3, 0),
            s(5, 1, 4, 9, 3, 3, 2, 1),
            s(1, 2, 2, 2, 2, 5, 5, 2), // kernel wider than the input
            s(1, 1, 1, 1, 2, 5, 5, 2), // taps that land only in padding
            s(2, 1, 3, 2, 2, 3, 3, 4), // padding wider than the kernel
            s(4, 2, 6, 5, 3, 1, 1, 0),
        ]
    }

    /// Against the definition on odd shapes: padding wider than the kernel's reach, a kernel
    /// larger than the image, rectangular kernels and images, batches that split unevenly over
    /// the threads (run on 3 threads, so that batches of 4 and 5 split unevenly). Checked to
    /// fail: with `inside`'s source column one to the right, the first shape reads past its
    /// input row; with the source column not clamped to `w`, the 1x1 image does (a review
    /// found that one).
    #[test]
    fn forward_matches_the_definition() {
        three_threads(|| {
            for (t, s) in shapes().iter().enumerate() {
                let x = values(s.batch * s.image_in(), t as u64);
                let w = values(s.c_out * s.k(), 100 + t as u64);
                let b = values(s.c_out, 200 + t as u64);
                let want: Vec<f32> = naive(s, &x, &w, &b).iter().map(|v| *v as f32).collect();
                close(&forward(s, &x, &w, &b), &want, &format!("{s:?}"));
            }
        });
    }

    /// `f` on a pool of 3 threads, whatever this machine has.
    fn three_threads(f: impl FnOnce() + Send) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a 3-thread pool")
            .install(f);
    }

    /// The gradients against finite differences of the definition's dot product with a random
    /// output gradient (which is linear in each of x, w and b, so a difference is exact up to
    /// rounding). Checked to fail: with `col2im_add` overwriting instead of adding, `dx[0]`
    /// differs; with the first thread's partial weight gradient left out of the sum, `dw[0]`.
    #[test]
    fn backward_matches_the_definition() {
        three_threads(|| {
            for (t, s) in shapes().iter().enumerate() {
                let x = values(s.batch * s.image_in(), t as u64);
                let w = values(s.c_out * s.k(), 100 + t as u64);
                let b = values(s.c_out, 200 + t as u64);
                let g = values(s.batch * s.image_out(), 300 + t as u64);
                let dot = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
                    naive(s, x, w, b)
                        .iter()
                        .zip(&g)
                        .map(|(o, g)| o * *g as f64)
                        .sum()
                };
                let base = dot(&x, &w, &b);
                // For a linear function the unit-step difference is the partial derivative.
                let partial = |v: &[f32], at: usize, f: &dyn Fn(&[f32]) -> f64| {
                    let mut e = v.to_vec();
                    e[at] += 1.0;
                    (f(&e) - base) as f32
                };
                let (dw, db) = weight_backward(s, &x, &g);
                let dx = input_backward(s, &w, &g);
                let want_x: Vec<f32> = (0..x.len())
                    .map(|i| partial(&x, i, &|e| dot(e, &w, &b)))
                    .collect();
                let want_w: Vec<f32> = (0..w.len())
                    .map(|i| partial(&w, i, &|e| dot(&x, e, &b)))
                    .collect();
                let want_b: Vec<f32> = (0..b.len())
                    .map(|i| partial(&b, i, &|e| dot(&x, &w, e)))
                    .collect();
                close(&dx, &want_x, &format!("dx {s:?}"));
                close(&dw, &want_w, &format!("dw {s:?}"));
                close(&db, &want_b, &format!("db {s:?}"));
            }
        });
    }
}
