//! The coordinate-wise rules (median, trimmed mean, MeaMed, Phocas, Bulyan's last step) as one
//! kernel: per block of `W` coordinates, load the `n` values (NaN read as +inf), run the rule's
//! selection network, reduce each lane.

use std::mem::MaybeUninit;

use super::network::{Comparator, MinMax, Needs, Portable, apply, network};

/// Lanes per block: two AVX2 vectors of f32, two independent dependency chains per comparator.
const W: usize = 8;

/// Prefetch distance in values (1 KiB).
const PREFETCH: usize = 256;

/// The centre that [`Coord::Closest`] measures closeness to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Center {
    /// The coordinate-wise median (MeaMed, Bulyan).
    Median,
    /// The coordinate-wise `f`-trimmed mean (Phocas).
    TrimmedMean(usize),
}

/// What to compute per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coord {
    /// Median; mean of the two middle values for even `n`.
    Median,
    /// Mean after dropping the `f` smallest and `f` largest values.
    TrimmedMean(usize),
    /// Mean of the `k` values closest to the centre; ties to the lower input index.
    Closest { k: usize, center: Center },
}

impl Coord {
    fn needs(self, n: usize) -> Needs {
        match self {
            Coord::Median if n % 2 == 1 => Needs::Exact(n / 2, n / 2 + 1),
            Coord::Median => Needs::Exact(n / 2 - 1, n / 2 + 1),
            Coord::TrimmedMean(f) => Needs::Group(f, n - f),
            Coord::Closest { .. } => Needs::All,
        }
    }
}

/// Reads NaN as +inf: coordinate-wise rules order NaN above everything (ALGORITHMS.md).
#[inline(always)]
fn load(v: f32) -> f32 {
    if v.is_nan() { f32::INFINITY } else { v }
}

/// Applies `rule` to every coordinate of `rows` (all of one length `d`), in parallel.
pub(crate) fn coordinatewise(rows: &[&[f32]], rule: Coord) -> Vec<f32> {
    let n = rows.len();
    let d = rows[0].len();
    let net = network(n, rule.needs(n));
    // SAFETY: `chunk_generic` stores every block of its chunk, whole or its first `len` lanes.
    unsafe {
        super::filled(d, |start, chunk| {
            chunk_kernel(rows, start, chunk, &net, rule)
        })
    }
}

/// [`chunk_generic`] with AVX2 vector min/max where the CPU has it.
fn chunk_kernel(
    rows: &[&[f32]],
    start: usize,
    out: &mut [MaybeUninit<f32>],
    net: &[Comparator],
    rule: Coord,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(
            rows: &[&[f32]],
            start: usize,
            out: &mut [MaybeUninit<f32>],
            net: &[Comparator],
            rule: Coord,
        ) {
            chunk_generic::<super::network::Avx>(rows, start, out, net, rule)
        }
        if super::has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { avx2(rows, start, out, net, rule) };
        }
    }
    chunk_generic::<Portable>(rows, start, out, net, rule)
}

#[inline(always)]
fn chunk_generic<M: MinMax>(
    rows: &[&[f32]],
    start: usize,
    out: &mut [MaybeUninit<f32>],
    net: &[Comparator],
    rule: Coord,
) {
    let n = rows.len();
    let mut wires = vec![[0.0f32; W]; n];
    for (b, block) in out.chunks_mut(W).enumerate() {
        let at = start + b * W;
        let len = block.len();
        if len == W {
            for (wire, row) in wires.iter_mut().zip(rows) {
                // Nineteen or so concurrent streams outrun the hardware prefetcher: ask for the
                // line PREFETCH values ahead, once per cache line.
                if at.is_multiple_of(16) {
                    M::prefetch(row, at + PREFETCH);
                }
                *wire = M::load(row[at..at + W].try_into().expect("W values"));
            }
        } else {
            for (wire, row) in wires.iter_mut().zip(rows) {
                *wire = [0.0; W];
                for l in 0..len {
                    wire[l] = load(row[at + l]);
                }
            }
        }
        apply::<M, W>(net, &mut wires);
        let mut result = [0.0f32; W];
        // Lanes past the data (a short last block) are never recomputed.
        let tie = reduce(&wires, rule, &mut result) & ((1u32 << len) - 1);
        if tie != 0 {
            for (l, r) in result.iter_mut().enumerate() {
                if tie & (1 << l) != 0 {
                    *r = exact(rows, at + l, rule);
                }
            }
        }
        // A whole block as one fixed-size store (a slice copy of variable length is a call to
        // memcpy per 8 values).
        match <&mut [MaybeUninit<f32>; W]>::try_from(&mut *block) {
            Ok(full) => *full = result.map(MaybeUninit::new),
            Err(_) => {
                block.write_copy_of_slice(&result[..len]);
            }
        }
    }
}

/// Reduces sorted lanes into `out`; returns a bit mask of lanes with an exact distance tie
/// between two different values, which the caller recomputes with the index tie-break.
#[inline(always)]
fn reduce(s: &[[f32; W]], rule: Coord, out: &mut [f32; W]) -> u32 {
    let n = s.len();
    match rule {
        Coord::Median => {
            *out = median_lanes(s);
            0
        }
        Coord::TrimmedMean(f) => {
            *out = trimmed_lanes(s, f);
            0
        }
        Coord::Closest { k, center } => {
            let c = match center {
                Center::Median => median_lanes(s),
                Center::TrimmedMean(f) => trimmed_lanes(s, f),
            };
            let extra = n - k;
            let mut shift = [0u32; W];
            let mut tie = 0u32;
            for t in 1..=extra {
                let (left, right) = (s[t - 1], s[t + k - 1]);
                for l in 0..W {
                    let dl = c[l] - left[l];
                    let dr = right[l] - c[l];
                    shift[l] += (dl > dr) as u32;
                    tie |= ((dl == dr && left[l] != right[l]) as u32) << l;
                }
            }
            let mut sum = [0.0f32; W];
            for (i, wire) in s.iter().enumerate() {
                for l in 0..W {
                    let inside = (i as u32) >= shift[l] && (i as u32) < shift[l] + k as u32;
                    sum[l] += if inside { wire[l] } else { 0.0 };
                }
            }
            let inv = 1.0 / k as f32;
            for l in 0..W {
                out[l] = sum[l] * inv;
            }
            tie
        }
    }
}

#[inline(always)]
fn median_lanes(s: &[[f32; W]]) -> [f32; W] {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        let (a, b) = (s[n / 2 - 1], s[n / 2]);
        std::array::from_fn(|l| a[l] * 0.5 + b[l] * 0.5)
    }
}

#[inline(always)]
fn trimmed_lanes(s: &[[f32; W]], f: usize) -> [f32; W] {
    let n = s.len();
    let mut sum = [0.0f32; W];
    for wire in &s[f..n - f] {
        for l in 0..W {
            sum[l] += wire[l];
        }
    }
    let inv = 1.0 / (n - 2 * f) as f32;
    std::array::from_fn(|l| sum[l] * inv)
}

/// One coordinate computed the slow, obviously-right way, with every tie-break of ALGORITHMS.md.
pub(crate) fn exact(rows: &[&[f32]], j: usize, rule: Coord) -> f32 {
    let mut col: Vec<(f32, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (load(r[j]), i))
        .collect();
    col.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let n = col.len();
    let median = || {
        if n % 2 == 1 {
            col[n / 2].0
        } else {
            col[n / 2 - 1].0 * 0.5 + col[n / 2].0 * 0.5
        }
    };
    let trimmed = |f: usize| col[f..n - f].iter().map(|v| v.0).sum::<f32>() / (n - 2 * f) as f32;
    match rule {
        Coord::Median => median(),
        Coord::TrimmedMean(f) => trimmed(f),
        Coord::Closest { k, center } => {
            let c = match center {
                Center::Median => median(),
                Center::TrimmedMean(f) => trimmed(f),
            };
            let mut by_distance = col.clone();
            by_distance.sort_by(|a, b| {
                (a.0 - c)
                    .abs()
                    .total_cmp(&(b.0 - c).abs())
                    .then(a.1.cmp(&b.1))
            });
            let mut chosen: Vec<f32> = by_distance[..k].iter().map(|v| v.0).collect();
            chosen.sort_by(f32::total_cmp);
            chosen.iter().sum::<f32>() / k as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn kernel_matches_the_exact_definition() {
        let seed = 11;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for n in [1usize, 2, 3, 4, 5, 7, 8, 19, 25] {
            let d = 37;
            let data: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    (0..d)
                        .map(|_| (rng.random_range(-8i32..8) as f32) * 0.5)
                        .collect()
                })
                .collect();
            let rows: Vec<&[f32]> = data.iter().map(|r| r.as_slice()).collect();
            let f = (n - 1) / 2;
            let mut rules = vec![Coord::Median, Coord::TrimmedMean(f)];
            for center in [Center::Median, Center::TrimmedMean(f)] {
                rules.push(Coord::Closest { k: n - f, center });
            }
            for rule in rules {
                let fast = coordinatewise(&rows, rule);
                // The portable build too, which this (AVX2) machine would not pick by itself.
                let net = network(n, rule.needs(n));
                let mut portable = vec![MaybeUninit::new(0.0f32); d];
                chunk_generic::<Portable>(&rows, 0, &mut portable, &net, rule);
                // SAFETY: every element was initialised to 0 before the kernel overwrote it.
                let portable: Vec<f32> = portable
                    .iter()
                    .map(|v| unsafe { v.assume_init() })
                    .collect();
                for (j, (v, p)) in fast.iter().zip(&portable).enumerate() {
                    let want = exact(&rows, j, rule);
                    assert!(
                        (p - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "portable {rule:?} n={n} j={j}: {p} vs {want}"
                    );
                    assert!(
                        (v - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "{rule:?} n={n} j={j}: {v} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn nan_orders_above_everything() {
        let a = [1.0f32, f32::NAN];
        let b = [2.0f32, 5.0];
        let c = [3.0f32, 6.0];
        let out = coordinatewise(&[&a, &b, &c], Coord::Median);
        assert_eq!(out, vec![2.0, 6.0]);
    }
}
