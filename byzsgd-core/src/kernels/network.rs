//! Sorting and selection networks for any `n`, applied to `W` coordinates at once.
//!
//! A coordinate-wise rule needs, per coordinate, some order statistics of the `n` inputs. We
//! build Batcher's odd-even merge sort for the next power of two, drop the comparators that touch
//! padding wires (padding with +inf makes them no-ops), then prune backwards every comparator
//! whose outcome the rule does not read. Applied to `W` lanes in lock-step, each comparator is a
//! vector min and max: branch-free, and no transposition, since lane `l` of row `i` is just the
//! next value of row `i`.

/// What a rule reads of the sorted column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// The exact values at these sorted positions `[lo, hi)`.
    Exact(usize, usize),
    /// The multiset of values at sorted positions `[lo, hi)`, in any order.
    Group(usize, usize),
    /// The fully sorted column.
    All,
}

/// A comparator: after it, wire `.0` holds the min and wire `.1` the max.
pub(crate) type Comparator = (u16, u16);

/// The comparators (in order) that leave, for `n` inputs, what `needs` asks for.
pub(crate) fn network(n: usize, needs: Needs) -> Vec<Comparator> {
    assert!(
        n <= u16::MAX as usize,
        "selection networks are for n < 65536 inputs"
    );
    let full = batcher(n);
    #[derive(Clone, Copy, PartialEq)]
    enum Label {
        Unused,
        Exact,
        Group,
    }
    let mut label = vec![Label::Unused; n];
    match needs {
        Needs::All => label.iter_mut().for_each(|l| *l = Label::Exact),
        Needs::Exact(lo, hi) => label[lo..hi].iter_mut().for_each(|l| *l = Label::Exact),
        Needs::Group(lo, hi) => label[lo..hi].iter_mut().for_each(|l| *l = Label::Group),
    }
    let mut kept = Vec::new();
    for &(i, j) in full.iter().rev() {
        let (a, b) = (label[i as usize], label[j as usize]);
        let skip =
            (a == Label::Unused && b == Label::Unused) || (a == Label::Group && b == Label::Group);
        if !skip {
            label[i as usize] = Label::Exact;
            label[j as usize] = Label::Exact;
            kept.push((i, j));
        }
    }
    kept.reverse();
    kept
}

/// Batcher's odd-even merge sort on `next_power_of_two(n)` wires, restricted to the first `n`.
fn batcher(n: usize) -> Vec<Comparator> {
    let size = n.next_power_of_two();
    let mut out = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && a < n && b < n {
                        out.push((a as u16, b as u16));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

/// Runs a network over `W` lanes of wires in place (`W` a multiple of 8). Inputs hold no NaN
/// (loads map NaN to +inf), so min/max need no NaN handling.
pub(crate) trait MinMax {
    /// Applies every comparator of `net` to `wires`.
    fn apply<const W: usize>(net: &[Comparator], wires: &mut [[f32; W]]);

    /// Hints that `row[at..]` will be read soon (no-op by default).
    #[inline(always)]
    fn prefetch(_row: &[f32], _at: usize) {}

    /// Loads `W` values, NaN read as +inf (coordinate-wise rules order NaN above everything).
    #[inline(always)]
    fn load<const W: usize>(src: &[f32; W]) -> [f32; W] {
        src.map(|v| if v.is_nan() { f32::INFINITY } else { v })
    }
}

/// Plain Rust: `f32::min`/`max`. (The compare-select form `if a < b { a } else { b }` would let
/// LLVM store only the lanes that change, with a masked store whose result the next comparator's
/// load cannot forward: measured 3x slower.)
pub(crate) struct Portable;

impl MinMax for Portable {
    #[inline(always)]
    fn apply<const W: usize>(net: &[Comparator], wires: &mut [[f32; W]]) {
        for &(i, j) in net {
            let (a, b) = (wires[i as usize], wires[j as usize]);
            wires[i as usize] = std::array::from_fn(|l| a[l].min(b[l]));
            wires[j as usize] = std::array::from_fn(|l| a[l].max(b[l]));
        }
    }
}

/// AVX: per comparator and 8 lanes, two loads, one `vminps`, one `vmaxps`, two stores, in place.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx;

#[cfg(target_arch = "x86_64")]
impl MinMax for Avx {
    #[inline(always)]
    fn prefetch(row: &[f32], at: usize) {
        if at < row.len() {
            // SAFETY: `at` is in bounds; a prefetch has no architectural effect.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    row.as_ptr().add(at) as *const i8,
                )
            };
        }
    }

    #[inline(always)]
    fn load<const W: usize>(src: &[f32; W]) -> [f32; W] {
        Self::load_avx(src)
    }

    #[inline(always)]
    fn apply<const W: usize>(net: &[Comparator], wires: &mut [[f32; W]]) {
        use std::arch::x86_64::*;
        const { assert!(W.is_multiple_of(8)) };
        let top = net
            .iter()
            .map(|&(i, j)| i.max(j) as usize)
            .max()
            .unwrap_or(0);
        assert!(
            net.is_empty() || top < wires.len(),
            "network wider than its wires"
        );
        let base = wires.as_mut_ptr() as *mut f32;
        for &(i, j) in net {
            // SAFETY: every wire index is below wires.len() (asserted above), so both rows of
            // W lanes are in bounds; only called from AVX2-enabled code on CPUs that have it
            // (see `coord::chunk_kernel`).
            unsafe {
                let (pa, pb) = (base.add(i as usize * W), base.add(j as usize * W));
                for k in (0..W).step_by(8) {
                    let (a, b) = (_mm256_loadu_ps(pa.add(k)), _mm256_loadu_ps(pb.add(k)));
                    _mm256_storeu_ps(pa.add(k), _mm256_min_ps(a, b));
                    _mm256_storeu_ps(pb.add(k), _mm256_max_ps(a, b));
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Avx {
    /// The AVX form of [`MinMax::load`]: compare-unordered and blend, 8 lanes at a time.
    #[inline(always)]
    fn load_avx<const W: usize>(src: &[f32; W]) -> [f32; W] {
        use std::arch::x86_64::*;
        let mut out = [0.0f32; W];
        for k in (0..W).step_by(8) {
            // SAFETY: k + 8 <= W (W is a multiple of 8); AVX2-enabled callers only.
            unsafe {
                let v = _mm256_loadu_ps(src.as_ptr().add(k));
                let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
                _mm256_storeu_ps(
                    out.as_mut_ptr().add(k),
                    _mm256_blendv_ps(v, _mm256_set1_ps(f32::INFINITY), nan),
                );
            }
        }
        out
    }
}

/// Applies `net` to `W` lanes of `n` wires.
#[inline(always)]
pub(crate) fn apply<M: MinMax, const W: usize>(net: &[Comparator], wires: &mut [[f32; W]]) {
    M::apply(net, wires);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn run(n: usize, needs: Needs, values: &[f32]) -> Vec<f32> {
        let net = network(n, needs);
        let mut wires: Vec<[f32; 8]> = values.iter().map(|&v| [v; 8]).collect();
        apply::<Portable, 8>(&net, &mut wires);
        wires.iter().map(|w| w[0]).collect()
    }

    #[test]
    fn sorts_and_selects_every_n_up_to_40() {
        let seed = 7;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for n in 1..=40 {
            for _ in 0..50 {
                let v: Vec<f32> = (0..n).map(|_| rng.random_range(-3i32..4) as f32).collect();
                let mut sorted = v.clone();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(run(n, Needs::All, &v), sorted, "n = {n}");
                let mid = run(n, Needs::Exact(n / 2, n / 2 + 1), &v);
                assert_eq!(mid[n / 2], sorted[n / 2], "median n = {n}");
                let f = (n - 1) / 2;
                let mut group = run(n, Needs::Group(f, n - f), &v)[f..n - f].to_vec();
                group.sort_by(f32::total_cmp);
                assert_eq!(group, sorted[f..n - f], "trim n = {n}");
            }
        }
    }

    #[test]
    fn selection_prunes_the_sort() {
        let all = network(19, Needs::All).len();
        let median = network(19, Needs::Exact(9, 10)).len();
        assert!(
            median < all,
            "median network {median} should be smaller than sort {all}"
        );
    }
}
