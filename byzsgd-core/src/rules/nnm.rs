//! Nearest-neighbour mixing (NNM), a pre-aggregation that composes with any rule: each input is
//! replaced by the mean of its `n-f` nearest inputs (itself included; ties to the lower index),
//! then the inner rule aggregates the mixed inputs. Bound: `n >= 2f+1` and the inner rule's own.
//! A row with NaN or ±Inf has no finite neighbour and is passed on unchanged; honest rows never
//! mix it in (it is infinitely far), and the inner rule treats it as it treats any such row.

use burn::tensor::{Tensor, TensorData};

use crate::aggregator::{Aggregation, Exec};
use crate::kernels::dist::{Distances, pairwise};
use crate::kernels::mean::mean_rows;
use crate::{Aggregator, Bound, Result, Rows, tensor_ops};

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
        let finite: Vec<bool> = (0..n).map(|i| rows.row_is_finite(i)).collect();
        let sets = self.neighbours(&pairwise(&all), &finite);
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
