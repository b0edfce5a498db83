//! Nearest-neighbour mixing (NNM), a pre-aggregation that composes with any rule: each input is
//! replaced by the mean of its `n-f` nearest inputs (itself included; ties to the lower index),
//! then the inner rule aggregates the mixed inputs. Bound: `n >= 2f+1` and the inner rule's own.
//! A row with NaN or ±Inf has no finite neighbour and is passed on unchanged; honest rows never
//! mix it in (it is infinitely far), and the inner rule treats it as it treats any such row.
//!
//! With [`Exec::Auto`] on host rows, an inner rule that averages a subset chosen from distances alone (MDA, Krum,
//! Multi-Krum, the average: [`Aggregator::subset_from_distances`]) runs without the mixed rows
//! ever being written: each mixed row is a weighted mean of the inputs, so their squared
//! distances follow from the inputs' ones (f64, `O(n³)`), and the rule's mean of the chosen
//! mixed rows is one weighted sum of the inputs. That is one pass over the inputs where
//! materialising costs `n(n−f)` row reads, `n` row writes and a second distance pass (at
//! CifarNet's size, 5 replicas × 7 workers, about a third of an async step's protocol work).
//! Any other inner rule gets the mixed rows.

use burn::tensor::{Tensor, TensorData};

use crate::aggregator::{Aggregation, Exec};
use crate::kernels::dist::{Distances, pairwise_and_finite};
use crate::kernels::mean::{mean_rows, weighted_sum};
use crate::{Aggregator, Bound, Error, Result, Rows, tensor_ops};

const BOUND: Bound = Bound::new(2, 1);

/// Configuration of [`Nnm`]: the inner rule is built first and handed over.
#[derive(Debug)]
pub struct NnmConfig {
    /// Number of inputs the rule will receive.
    pub n: usize,
    /// Declared Byzantine inputs.
    pub f: usize,
    /// Which implementation the mixing runs.
    pub exec: Exec,
}

impl NnmConfig {
    /// `n` inputs, `f` Byzantine.
    pub fn new(n: usize, f: usize) -> Self {
        Self {
            n,
            f,
            exec: Exec::Auto,
        }
    }

    /// Picks the implementation of the mixing step.
    pub fn with_exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// Checks NNM's bound and wraps `inner`.
    pub fn init(&self, inner: Box<dyn Aggregator>) -> Result<Nnm> {
        BOUND.check("nnm", self.n, self.f)?;
        inner.bound().check(&inner.name(), self.n, self.f)?;
        Ok(Nnm {
            f: self.f,
            exec: self.exec,
            inner,
        })
    }
}

/// NNM followed by an inner rule, built by [`NnmConfig`].
#[derive(Debug)]
pub struct Nnm {
    f: usize,
    exec: Exec,
    inner: Box<dyn Aggregator>,
}

impl Nnm {
    /// For each row, the `n-f` rows it mixes (itself included, ascending); `None` for a non-finite row.
    fn neighbours(&self, dist: &Distances, finite: &[bool]) -> Vec<Option<Vec<usize>>> {
        let n = dist.n();
        (0..n)
            .map(|i| {
                if !finite[i] {
                    return None;
                }
                let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                others.sort_by(|&a, &b| dist.get(i, a).total_cmp(&dist.get(i, b)).then(a.cmp(&b)));
                let mut set = vec![i];
                set.extend_from_slice(&others[..n - self.f - 1]);
                // Ascending order: rows with the same neighbours get bit-identical means.
                set.sort_unstable();
                Some(set)
            })
            .collect()
    }
}

/// Each mixed row as weights over the inputs: uniform over its neighbour set, or the row itself
/// when it passes through unmixed.
struct Mixing {
    members: Vec<Vec<usize>>,
}

impl Mixing {
    fn new(sets: &[Option<Vec<usize>>]) -> Self {
        let members = sets
            .iter()
            .enumerate()
            .map(|(i, set)| set.clone().unwrap_or_else(|| vec![i]))
            .collect();
        Self { members }
    }

    /// Squared distances between the mixed rows, from the inputs' squared distances `dist`: for
    /// weight vectors `u`, `v` over the inputs that each sum to one,
    /// `‖Σuⱼxⱼ − Σvⱼxⱼ‖² = uᵀDv − (uᵀDu + vᵀDv)/2`. A mixed row that is a non-finite input
    /// passed through, or whose neighbours include an infinitely far pair (more than `f`
    /// non-finite inputs), is infinitely far from every other, as the written-out row is.
    ///
    /// Precision: the error of a derived distance scales with the largest squared distance
    /// among the rows the two mixed rows draw on. A Byzantine input in an honest row's
    /// neighbour set is no farther from it than its farthest honest neighbour (it beat an
    /// honest row to the place), so the honest mixed rows' distances keep the precision of the
    /// honest spread; only mixed rows that share a far Byzantine member can get distances that
    /// are off by its magnitude's rounding, and no subset of `n − f` rows is made of those.
    fn distances(&self, dist: &Distances, finite: &[bool]) -> Distances {
        let n = dist.n();
        // reach[a][k] = u_aᵀ D e_k; cross(a, b) = u_aᵀ D u_b.
        let reach: Vec<Vec<f64>> = self
            .members
            .iter()
            .map(|set| {
                let w = 1.0 / set.len() as f64;
                (0..n)
                    .map(|k| set.iter().map(|&j| dist.get(j, k)).sum::<f64>() * w)
                    .collect()
            })
            .collect();
        let cross = |a: usize, b: usize| {
            let set = &self.members[b];
            set.iter().map(|&k| reach[a][k]).sum::<f64>() / set.len() as f64
        };
        let own: Vec<f64> = (0..n).map(|a| cross(a, a)).collect();
        let far: Vec<bool> = (0..n).map(|a| !finite[a] || !own[a].is_finite()).collect();
        let mut d2 = vec![0.0f64; n * n];
        for a in 0..n {
            for b in a + 1..n {
                let v = if far[a] || far[b] {
                    f64::INFINITY
                } else {
                    let v = cross(a, b) - (own[a] + own[b]) / 2.0;
                    if v.is_finite() {
                        v.max(0.0)
                    } else {
                        f64::INFINITY
                    }
                };
                d2[a * n + b] = v;
                d2[b * n + a] = v;
            }
        }
        Distances::from_squared(n, d2)
    }

    /// The weights over the inputs of the mean of the mixed rows `chosen`.
    fn mean_weights(&self, chosen: &[usize]) -> Vec<f32> {
        let mut w = vec![0.0f64; self.members.len()];
        for &a in chosen {
            let share = 1.0 / (chosen.len() * self.members[a].len()) as f64;
            for &j in &self.members[a] {
                w[j] += share;
            }
        }
        w.into_iter().map(|w| w as f32).collect()
    }
}

impl Aggregator for Nnm {
    fn name(&self) -> String {
        format!("nnm+{}", self.inner.name())
    }

    fn f(&self) -> usize {
        self.f
    }

    fn bound(&self) -> Bound {
        let inner = self.inner.bound();
        if inner.min_inputs(self.f) >= BOUND.min_inputs(self.f) {
            inner
        } else {
            BOUND
        }
    }

    fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.aggregate_detailed(inputs)?.value)
    }

    fn aggregate_detailed(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let [n, d] = crate::rows::check_matrix(&inputs)?;
        self.bound().check(&self.name(), n, self.f)?;
        let device = inputs.device();
        if self.exec == Exec::Auto && crate::rows::is_host_device(&device) {
            let (data, dims) = crate::rows::to_host(inputs)?;
            let (values, kept) = self.aggregate_rows(crate::rows::rows_of(&data, dims)?)?;
            return Ok(Aggregation {
                value: crate::rows::vector_on(values, &device),
                kept,
            });
        }
        let finite = tensor_ops::finite_rows(&inputs);
        let sets = self.neighbours(&tensor_ops::pairwise(&inputs), &finite);
        let mut mixing = vec![0.0f32; n * n];
        for (i, set) in sets.iter().enumerate() {
            match set {
                Some(set) => set
                    .iter()
                    .for_each(|&j| mixing[i * n + j] = 1.0 / set.len() as f32),
                None => mixing[i * n + i] = 1.0,
            }
        }
        let mixing = Tensor::<2>::from_data(TensorData::new(mixing, [n, n]), &device);
        let clean = inputs
            .clone()
            .mask_fill(inputs.clone().is_finite().bool_not(), 0.0);
        let keep_raw = Tensor::<1>::from_data(
            TensorData::new(
                finite
                    .iter()
                    .map(|&ok| if ok { 0.0f32 } else { 1.0 })
                    .collect::<Vec<_>>(),
                [n],
            ),
            &device,
        )
        .unsqueeze_dim::<2>(1)
        .expand([n, d])
        .equal_elem(1.0);
        let mixed = mixing.matmul(clean).mask_where(keep_raw, inputs);
        self.inner.aggregate_detailed(mixed)
    }

    fn aggregate_rows(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let n = rows.n();
        self.bound().check(&self.name(), n, self.f)?;
        let all: Vec<&[f32]> = (0..n).map(|i| rows.row(i)).collect();
        let (dist, finite) = pairwise_and_finite(&all);
        let sets = self.neighbours(&dist, &finite);
        if self.exec == Exec::Auto {
            let mixing = Mixing::new(&sets);
            let mixed = mixing.distances(&dist, &finite);
            if let Some(chosen) = self.inner.subset_from_distances(&mixed)? {
                let ascending = chosen.windows(2).all(|w| w[0] < w[1]);
                if !ascending || chosen.last().is_none_or(|&last| last >= n) {
                    return Err(Error::Input(format!(
                        "{}: the subset {chosen:?} of {n} rows is not a non-empty, strictly \
                         ascending list of row indices",
                        self.inner.name()
                    )));
                }
                return Ok((weighted_sum(&all, &mixing.mean_weights(&chosen)), chosen));
            }
        }
        // Each mixed row where it is computed; a non-finite row passes through unmixed.
        let means: Vec<Option<Vec<f32>>> = sets
            .iter()
            .map(|set| {
                set.as_ref()
                    .map(|set| mean_rows(&set.iter().map(|&j| all[j]).collect::<Vec<_>>()))
            })
            .collect();
        let mixed: Vec<&[f32]> = means
            .iter()
            .zip(&all)
            .map(|(mean, row)| mean.as_deref().unwrap_or(row))
            .collect();
        self.inner.aggregate_rows(Rows::scattered(&mixed)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dist::pairwise;
    use crate::rules::MdaConfig;
    use crate::testing::{Attack, Case};

    /// A rule of a user's that names a subset NNM cannot average (unsorted, repeated, out of
    /// range, empty) gets an error naming it, not a panic or a silent mean.
    #[test]
    fn a_bad_subset_from_the_inner_rule_is_refused() {
        #[derive(Debug)]
        struct Picky(Vec<usize>);
        impl Aggregator for Picky {
            fn name(&self) -> String {
                "picky".into()
            }
            fn f(&self) -> usize {
                1
            }
            fn bound(&self) -> Bound {
                Bound::new(2, 1)
            }
            fn aggregate(&self, inputs: Tensor<2>) -> Result<Tensor<1>> {
                Ok(inputs.mean_dim(0).squeeze_dim(0))
            }
            fn subset_from_distances(&self, _: &Distances) -> Result<Option<Vec<usize>>> {
                Ok(Some(self.0.clone()))
            }
        }
        let rows: Vec<Vec<f32>> = (0..3).map(|i| vec![i as f32; 4]).collect();
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        for bad in [vec![1, 0], vec![0, 0], vec![0, 3], vec![]] {
            let nnm = NnmConfig::new(3, 1)
                .init(Box::new(Picky(bad.clone())))
                .unwrap();
            let err = nnm
                .aggregate_rows(Rows::scattered(&refs).unwrap())
                .unwrap_err();
            assert!(
                err.to_string().contains("picky: the subset"),
                "{bad:?}: {err}"
            );
        }
        let nnm = NnmConfig::new(3, 1)
            .init(Box::new(Picky(vec![0, 2])))
            .unwrap();
        let (mean, kept) = nnm.aggregate_rows(Rows::scattered(&refs).unwrap()).unwrap();
        assert_eq!(kept, vec![0, 2]);
        // Rows 0 and 2 mix {0, 1} and {1, 2}: their mean is row 1.
        assert_eq!(mean, vec![1.0; 4]);
    }

    /// The mixed rows' distances derived from the inputs' ones match the distances of the mixed
    /// rows written out, with NaN, ±1e30 and far rows among the inputs. Seen failing with the
    /// `(uᵀDu + vᵀDv)/2` term not halved.
    #[test]
    fn mixed_distances_match_the_written_out_rows() {
        let attacks = [Attack::Huge, Attack::Nan, Attack::Far, Attack::Mixed];
        for seed in 0..24u64 {
            let f = (seed % 4) as usize;
            let n = 2 * f + 1 + (seed % 3) as usize;
            let case = Case::generate(n, f, 300, &attacks[..f], seed);
            println!("seed {seed}: n {n}, f {f}, byzantine {:?}", case.byzantine);
            let all: Vec<&[f32]> = case.rows.iter().map(|r| r.as_slice()).collect();
            let finite: Vec<bool> = all
                .iter()
                .map(|r| r.iter().all(|v| v.is_finite()))
                .collect();
            let inner = Box::new(MdaConfig::new(n, f).init().unwrap());
            let nnm = NnmConfig::new(n, f).init(inner).unwrap();
            let dist = pairwise(&all);
            let sets = nnm.neighbours(&dist, &finite);
            let written: Vec<Vec<f32>> = sets
                .iter()
                .zip(&all)
                .map(|(set, row)| match set {
                    Some(set) => mean_rows(&set.iter().map(|&j| all[j]).collect::<Vec<_>>()),
                    None => row.to_vec(),
                })
                .collect();
            let refs: Vec<&[f32]> = written.iter().map(|r| r.as_slice()).collect();
            let expected = pairwise(&refs);
            let derived = Mixing::new(&sets).distances(&dist, &finite);
            // Rows infinitely far from every other, once derived.
            let far: Vec<bool> = (0..n)
                .map(|a| (0..n).all(|b| a == b || derived.get(a, b) == f64::INFINITY))
                .collect();
            for a in 0..n {
                for b in 0..n {
                    // Rows that are infinitely far once derived (more than `f` non-finite
                    // inputs) may be written out as the same NaN-free row; no rule picks them.
                    if a != b && far[a] && far[b] {
                        continue;
                    }
                    let (x, y) = (derived.get(a, b), expected.get(a, b));
                    assert!(
                        x == y || (x - y).abs() <= 1e-4 * y.max(1e-6),
                        "seed {seed}: rows {a}, {b}: derived {x}, written out {y}"
                    );
                }
            }
        }
    }
}
