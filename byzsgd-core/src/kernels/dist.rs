//! Pairwise squared L2 distances between rows, computed from differences (no Gram-matrix
//! cancellation) and accumulated in f64 across short f32 runs, tiled so each input is read once
//! from memory. A row with a non-finite value is infinitely far from every other row.

use rayon::prelude::*;

/// Coordinates per tile: all `n` rows of a tile stay in L2 while every pair is visited.
const TILE: usize = 1024;
/// Values summed in f32 before the partial sum moves to f64.
const RUN: usize = 1024;

/// A symmetric `n x n` matrix of squared distances (f64), zero on the diagonal.
#[derive(Debug, Clone, PartialEq)]
pub struct Distances {
    n: usize,
    d2: Vec<f64>,
}

impl Distances {
    /// An `n x n` matrix from row-major squared distances.
    pub fn from_squared(n: usize, d2: Vec<f64>) -> Self {
        assert_eq!(d2.len(), n * n);
        Self { n, d2 }
    }

    /// Number of rows compared.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Squared distance between rows `i` and `j` (`+inf` when either is non-finite).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.d2[i * self.n + j]
    }

    /// Marks row `i` infinitely far from every other row.
    pub fn set_infinitely_far(&mut self, i: usize) {
        for j in 0..self.n {
            if j != i {
                self.d2[i * self.n + j] = f64::INFINITY;
                self.d2[j * self.n + i] = f64::INFINITY;
            }
        }
    }
}

/// Squared distances between all pairs of `rows`.
pub(crate) fn pairwise(rows: &[&[f32]]) -> Distances {
    pairwise_and_finite(rows).0
}

/// [`pairwise`], and whether each row is finite (found on the same pass).
pub(crate) fn pairwise_and_finite(rows: &[&[f32]]) -> (Distances, Vec<bool>) {
    let n = rows.len();
    let d = rows[0].len();
    let tiles = d.div_ceil(TILE);
    // Per tile: upper-triangle sums, then one flag per row that saw a non-finite value.
    let (sums, bad) = (0..tiles)
        .into_par_iter()
        .fold(
            || (vec![0.0f64; n * n], vec![false; n]),
            |(mut sums, mut bad), t| {
                let lo = t * TILE;
                let hi = (lo + TILE).min(d);
                tile_kernel(rows, lo, hi, &mut sums, &mut bad);
                (sums, bad)
            },
        )
        .reduce(
            || (vec![0.0f64; n * n], vec![false; n]),
            |(mut a, mut fa), (b, fb)| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                fa.iter_mut().zip(&fb).for_each(|(x, y)| *x |= y);
                (a, fa)
            },
        );
    let mut d2 = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            d2[i * n + j] = sums[i * n + j];
            d2[j * n + i] = sums[i * n + j];
        }
    }
    let mut out = Distances { n, d2 };
    for (i, &b) in bad.iter().enumerate() {
        if b {
            out.set_infinitely_far(i);
        }
    }
    (out, bad.iter().map(|b| !b).collect())
}

/// [`tile_generic`] with AVX2/FMA squared differences where the CPU has them.
fn tile_kernel(rows: &[&[f32]], lo: usize, hi: usize, sums: &mut [f64], bad: &mut [bool]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(rows: &[&[f32]], lo: usize, hi: usize, sums: &mut [f64], bad: &mut [bool]) {
            tile_generic::<Avx>(rows, lo, hi, sums, bad)
        }
        if super::has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { avx2(rows, lo, hi, sums, bad) };
        }
    }
    tile_generic::<Portable>(rows, lo, hi, sums, bad)
}

/// `Σ (a_i - b_i)²` in f32 over a short run.
trait SquaredDiff {
    fn squared_diff(a: &[f32], b: &[f32]) -> f32;
}

struct Portable;

impl SquaredDiff for Portable {
    #[inline(always)]
    fn squared_diff(a: &[f32], b: &[f32]) -> f32 {
        squared_diff(a, b)
    }
}

/// Four independent 8-lane FMA chains: enough to hide FMA latency.
#[cfg(target_arch = "x86_64")]
struct Avx;

#[cfg(target_arch = "x86_64")]
impl SquaredDiff for Avx {
    #[inline(always)]
    fn squared_diff(a: &[f32], b: &[f32]) -> f32 {
        use std::arch::x86_64::*;
        let len = a.len().min(b.len());
        let whole = len / 32 * 32;
        // SAFETY: every load reads 8 values at an offset below `whole - 7` of slices at least
        // `whole` long; only called from AVX2+FMA code on CPUs that have it (`tile_kernel`).
        let mut s = unsafe {
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < whole {
                for (k, slot) in acc.iter_mut().enumerate() {
                    let t = _mm256_sub_ps(
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    );
                    *slot = _mm256_fmadd_ps(t, t, *slot);
                }
                i += 32;
            }
            let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
            lanes.iter().sum::<f32>()
        };
        for (x, y) in a[whole..len].iter().zip(&b[whole..len]) {
            s += (x - y) * (x - y);
        }
        s
    }
}

#[inline(always)]
fn tile_generic<S: SquaredDiff>(
    rows: &[&[f32]],
    lo: usize,
    hi: usize,
    sums: &mut [f64],
    bad: &mut [bool],
) {
    let n = rows.len();
    for (i, row) in rows.iter().enumerate() {
        // x * 0 is NaN exactly when x is not finite.
        let probe = lanes_sum(&row[lo..hi], |x| x * 0.0);
        if !probe.is_finite() {
            bad[i] = true;
        }
    }
    for i in 0..n {
        if bad[i] {
            continue;
        }
        let a = &rows[i][lo..hi];
        for j in i + 1..n {
            if bad[j] {
                continue;
            }
            let b = &rows[j][lo..hi];
            let mut total = 0.0f64;
            for (ca, cb) in a.chunks(RUN).zip(b.chunks(RUN)) {
                let part = S::squared_diff(ca, cb);
                total += if part.is_finite() {
                    part as f64
                } else {
                    squared_diff_f64(ca, cb)
                };
            }
            sums[i * n + j] += total;
        }
    }
}

/// Sum of `map(x)` in 8 independent lanes (vectorises).
#[inline(always)]
fn lanes_sum(x: &[f32], map: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += map(c[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for &v in chunks.remainder() {
        s += map(v);
    }
    s
}

#[inline(always)]
fn squared_diff(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..16 {
            let t = x[l] - y[l];
            acc[l] = t.mul_add(t, acc[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let t = x - y;
        s += t * t;
    }
    s
}

/// The overflow fallback: huge (finite) values whose squares exceed f32.
fn squared_diff_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn portable_and_avx_sums_agree() {
        let seed = 9;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for len in [0usize, 1, 7, 31, 32, 33, 1000, 1024] {
            let a: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
            let want = squared_diff_f64(&a, &b);
            let portable = Portable::squared_diff(&a, &b) as f64;
            assert!(
                (portable - want).abs() <= 1e-5 * want.max(1e-30),
                "portable, len {len}"
            );
            #[cfg(target_arch = "x86_64")]
            if crate::kernels::has_avx2() {
                // SAFETY: AVX2 and FMA are present (checked).
                #[target_feature(enable = "avx2,fma")]
                fn avx(a: &[f32], b: &[f32]) -> f32 {
                    Avx::squared_diff(a, b)
                }
                let fast = unsafe { avx(&a, &b) } as f64;
                assert!(
                    (fast - want).abs() <= 1e-5 * want.max(1e-30),
                    "avx, len {len}"
                );
            }
        }
    }

    #[test]
    fn matches_a_float64_reference_and_isolates_non_finite_rows() {
        let seed = 3;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (n, d) = (6, 5000);
        let mut data: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        data[4][17] = f32::NAN;
        data[5][4999] = 1e30;
        let rows: Vec<&[f32]> = data.iter().map(|r| r.as_slice()).collect();
        let dist = pairwise(&rows);
        for i in 0..n {
            assert_eq!(dist.get(i, i), 0.0);
            for j in 0..n {
                if i == j {
                    continue;
                }
                if i == 4 || j == 4 {
                    assert_eq!(dist.get(i, j), f64::INFINITY);
                    continue;
                }
                let want: f64 = rows[i]
                    .iter()
                    .zip(rows[j])
                    .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                    .sum();
                let got = dist.get(i, j);
                assert!(
                    (got - want).abs() <= 1e-5 * want,
                    "{i},{j}: {got} vs {want}"
                );
            }
        }
    }
}
