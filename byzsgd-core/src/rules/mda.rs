//! Minimum-Diameter Averaging (MDA), the server's gradient rule in ByzSGD: among all subsets of
//! `n-f` inputs, the one of smallest diameter (largest pairwise distance), averaged. Bound:
//! `n >= 2f+1`.
//!
//! Exact: distances are computed once (f64 sums of f32 differences), then a depth-first search in
//! lexicographic order visits subsets, pruning a branch as soon as its partial diameter reaches
//! the best found; ties go to the lexicographically first subset. A greedy first guess bounds the
//! search from the start without changing which subset wins. A row with NaN or ±Inf is infinitely
//! far from every other, so no finite-diameter subset contains it: with at most `f` such rows the
//! all-honest subsets are finite and one of them (or a finite mix) wins.

use burn::tensor::Tensor;

use super::simple_config;
use crate::aggregator::{Aggregation, Kernels};
use crate::kernels::dist::{Distances, pairwise};
use crate::kernels::mean::mean_rows;
use crate::{Bound, Result, Rows, tensor_ops};

simple_config!(
    /// Configuration of [`Mda`].
    MdaConfig => Mda, "mda", Bound::new(2, 1)
);

/// The lexicographically first subset of `k` rows with the smallest diameter (squared), and that
/// diameter.
pub fn min_diameter_subset(dist: &Distances, k: usize) -> (Vec<usize>, f64) {
    let n = dist.n();
    assert!(k >= 1 && k <= n, "subset size {k} outside 1..={n}");
    let mut search = Search {
        dist,
        k,
        n,
        bound: greedy_bound(dist, k),
        best: None,
        stack: Vec::with_capacity(k),
    };
    search.descend(0, 0.0);
    search
        .best
        .expect("the greedy subset's diameter bounds at least one subset")
}

/// An upper bound on the optimum: each row with its `k-1` nearest others.
fn greedy_bound(dist: &Distances, k: usize) -> f64 {
    let n = dist.n();
    let mut best = f64::INFINITY;
    for i in 0..n {
        let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        order.sort_by(|&a, &b| dist.get(i, a).total_cmp(&dist.get(i, b)));
        let mut set = vec![i];
        set.extend_from_slice(&order[..k - 1]);
        let mut diameter = 0.0f64;
        for (x, &a) in set.iter().enumerate() {
            for &b in &set[x + 1..] {
                diameter = diameter.max(dist.get(a, b));
            }
        }
        best = best.min(diameter);
    }
    best
}

struct Search<'a> {
    dist: &'a Distances,
    k: usize,
    n: usize,
    /// Before any subset is found: the greedy bound (inclusive); after, the best (exclusive).
    bound: f64,
    best: Option<(Vec<usize>, f64)>,
    stack: Vec<usize>,
}

impl Search<'_> {
    fn prune(&self, diameter: f64) -> bool {
        if self.best.is_some() {
            diameter >= self.bound
        } else {
            diameter > self.bound
        }
    }

    fn descend(&mut self, from: usize, diameter: f64) {
        if self.stack.len() == self.k {
            self.bound = diameter;
            self.best = Some((self.stack.clone(), diameter));
            return;
        }
        let needed = self.k - self.stack.len();
        for next in from..=self.n - needed {
            let mut grown = diameter;
            for &member in &self.stack {
                grown = grown.max(self.dist.get(member, next));
            }
            if self.prune(grown) {
                continue;
            }
            self.stack.push(next);
            self.descend(next + 1, grown);
            self.stack.pop();
        }
    }
}

impl Kernels for Mda {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let (chosen, _) = min_diameter_subset(&pairwise(&all), rows.n() - self.f);
        let picked: Vec<&[f32]> = chosen.iter().map(|&i| rows.row(i)).collect();
        Ok((mean_rows(&picked), chosen))
    }

    fn subset(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        Ok(Some(min_diameter_subset(dist, dist.n() - self.f).0))
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let n = inputs.dims()[0];
        let (chosen, _) = min_diameter_subset(&tensor_ops::pairwise(&inputs), n - self.f);
        Ok(Aggregation {
            value: tensor_ops::mean_of(inputs, &chosen),
            kept: chosen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every subset, the slow way.
    fn brute(dist: &Distances, k: usize) -> (Vec<usize>, f64) {
        let n = dist.n();
        let mut best: Option<(Vec<usize>, f64)> = None;
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != k {
                continue;
            }
            let set: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let mut diam = 0.0f64;
            for (x, &a) in set.iter().enumerate() {
                for &b in &set[x + 1..] {
                    diam = diam.max(dist.get(a, b));
                }
            }
            let better = match &best {
                None => true,
                Some((s, b)) => diam < *b || (diam == *b && set < *s),
            };
            if better {
                best = Some((set, diam));
            }
        }
        best.unwrap()
    }

    #[test]
    fn search_equals_brute_force_including_ties() {
        let seed = 5;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for trial in 0..300 {
            let n = rng.random_range(1..=10);
            let k = rng.random_range(1..=n);
            let mut d2 = vec![0.0; n * n];
            for i in 0..n {
                for j in i + 1..n {
                    // Few distinct values, so ties are common.
                    let v = rng.random_range(1..5) as f64;
                    d2[i * n + j] = v;
                    d2[j * n + i] = v;
                }
            }
            let dist = Distances::from_squared(n, d2);
            assert_eq!(
                min_diameter_subset(&dist, k),
                brute(&dist, k),
                "trial {trial}, n {n}, k {k}"
            );
        }
    }
}
