//! Multi-Krum: the mean of the `m` inputs with the lowest Krum scores (default `m = n-f`); ties to
//! the lower index. Bound: `n >= 2f+3`. Rows with NaN or ±Inf have infinite scores and are never
//! among the `m <= n-f` averaged while at most `f` of them exist.

use burn::tensor::Tensor;

use super::krum::{krum_scores, ranked};
use crate::aggregator::{Aggregation, Kernels, builtin_aggregator};
use crate::kernels::dist::{Distances, pairwise};
use crate::kernels::mean::mean_rows;
use crate::{Bound, Error, Exec, Result, Rows, tensor_ops};

const BOUND: Bound = Bound::new(2, 3);

/// Configuration of [`MultiKrum`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiKrumConfig {
    /// Number of inputs the rule will receive.
    pub n: usize,
    /// Declared Byzantine inputs.
    pub f: usize,
    /// Inputs averaged; `None` means `n - f`.
    pub m: Option<usize>,
    /// Which implementation runs.
    pub exec: Exec,
}

impl MultiKrumConfig {
    /// `n` inputs, `f` Byzantine, `m = n - f`.
    pub fn new(n: usize, f: usize) -> Self {
        Self {
            n,
            f,
            m: None,
            exec: Exec::Auto,
        }
    }

    /// Averages `m` inputs instead of `n - f`.
    pub fn with_m(mut self, m: usize) -> Self {
        self.m = Some(m);
        self
    }

    /// Picks the implementation.
    pub fn with_exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// Checks `n >= 2f+3` and `1 <= m <= n-f`, and builds the rule.
    pub fn init(&self) -> Result<MultiKrum> {
        BOUND.check("multi-krum", self.n, self.f)?;
        if let Some(m) = self.m
            && (m == 0 || m > self.n - self.f)
        {
            return Err(Error::Config(format!(
                "multi-krum averages m in 1..=n-f = {} inputs, got m = {m}",
                self.n - self.f
            )));
        }
        Ok(MultiKrum {
            f: self.f,
            m: self.m,
            exec: self.exec,
        })
    }
}

/// Multi-Krum, built by [`MultiKrumConfig`].
#[derive(Debug, Clone)]
pub struct MultiKrum {
    f: usize,
    m: Option<usize>,
    exec: Exec,
}

builtin_aggregator!(MultiKrum, "multi-krum", BOUND);

impl MultiKrum {
    fn pick(&self, dist: &Distances) -> Result<Vec<usize>> {
        let n = dist.n();
        let m = self.m.unwrap_or(n - self.f);
        if m > n - self.f {
            return Err(Error::Input(format!(
                "multi-krum with m = {m} needs n-f >= m, got n = {n}, f = {}",
                self.f
            )));
        }
        let all: Vec<usize> = (0..n).collect();
        let mut chosen = ranked(&krum_scores(dist, &all, self.f))[..m].to_vec();
        chosen.sort_unstable();
        Ok(chosen)
    }
}

impl Kernels for MultiKrum {
    fn host(&self, rows: Rows<'_>) -> Result<(Vec<f32>, Vec<usize>)> {
        let all: Vec<&[f32]> = (0..rows.n()).map(|i| rows.row(i)).collect();
        let chosen = self.pick(&pairwise(&all))?;
        let picked: Vec<&[f32]> = chosen.iter().map(|&i| rows.row(i)).collect();
        Ok((mean_rows(&picked), chosen))
    }

    fn subset(&self, dist: &Distances) -> Result<Option<Vec<usize>>> {
        self.pick(dist).map(Some)
    }

    fn tensor(&self, inputs: Tensor<2>) -> Result<Aggregation> {
        let chosen = self.pick(&tensor_ops::pairwise(&inputs))?;
        Ok(Aggregation {
            value: tensor_ops::mean_of(inputs, &chosen),
            kept: chosen,
        })
    }
}
