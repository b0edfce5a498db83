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

/// Applies `net` to `W` lanes of `n` wires.
#[inline(always)]
pub(crate) fn apply<const W: usize>(net: &[Comparator], wires: &mut [[f32; W]]) {
    for &(i, j) in net {
        let (a, b) = (wires[i as usize], wires[j as usize]);
        let mut lo = [0.0; W];
        let mut hi = [0.0; W];
        for l in 0..W {
            // No NaN reaches here (loads map NaN to +inf), so this is the vector min/max.
            lo[l] = if a[l] < b[l] { a[l] } else { b[l] };
            hi[l] = if a[l] < b[l] { b[l] } else { a[l] };
        }
        wires[i as usize] = lo;
        wires[j as usize] = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn run(n: usize, needs: Needs, values: &[f32]) -> Vec<f32> {
        let net = network(n, needs);
        let mut wires: Vec<[f32; 1]> = values.iter().map(|&v| [v]).collect();
        apply(&net, &mut wires);
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
