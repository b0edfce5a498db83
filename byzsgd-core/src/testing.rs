//! The conformance suite: properties every aggregation rule must have, runnable on any rule,
//! built-in or user-written.
//!
//! ```
//! use byzsgd_core::registry::Guarantee;
//! use byzsgd_core::testing::Suite;
//! use byzsgd_core::{Aggregator, Bound, MedianConfig};
//!
//! Suite::new("median", Bound::new(2, 1), Guarantee::Coordinatewise, |n, f| {
//!     Ok(Box::new(MedianConfig::new(n, f).init()?) as Box<dyn Aggregator>)
//! })
//! .with_cases(16)
//! .run();
//! ```
//!
//! Properties (ALGORITHMS.md, RELIABILITY.md), each also callable alone:
//! - **identity**: `n` identical inputs aggregate to that input (up to f32 rounding);
//! - **permutation invariance**: shuffling the rows does not change the output (relative 1e-5);
//! - **robustness** (skipped for [`Guarantee::None`]): with up to `f` arbitrary rows (norm 1e30,
//!   NaN, ±Inf, mixtures) the output is finite and inside the rule's bound;
//! - **determinism**: the same inputs twice give bit-identical outputs;
//! - **bound refusal**: `init` refuses `n = min - 1` and accepts `n = min`, and a rule refuses
//!   fewer rows than its bound at aggregation time.
//!
//! Cases come from proptest with a fixed seed (printed on failure, with the failing case), so a
//! failure reproduces exactly.

use burn::tensor::{Device, Tensor, TensorData};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::registry::Guarantee;
use crate::{Aggregator, Bound, Error, Result};

/// Builds the rule under test for `n` inputs with `f` Byzantine.
pub type Factory = Box<dyn Fn(usize, usize) -> Result<Box<dyn Aggregator>> + Send + Sync>;

/// What a Byzantine row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Every value ±1e30 (random signs).
    Huge,
    /// Every value NaN.
    Nan,
    /// Every value +Inf.
    PosInf,
    /// Every value -Inf.
    NegInf,
    /// Honest-looking values with some NaN and ±Inf sprinkled in.
    Mixed,
    /// A point far from the honest cluster (1e6 away), finite.
    Far,
}

const ATTACKS: [Attack; 6] = [
    Attack::Huge,
    Attack::Nan,
    Attack::PosInf,
    Attack::NegInf,
    Attack::Mixed,
    Attack::Far,
];

/// One generated input matrix.
#[derive(Debug, Clone)]
pub struct Case {
    /// Declared Byzantine count.
    pub f: usize,
    /// Row length.
    pub d: usize,
    /// All rows, honest and Byzantine, in sender order.
    pub rows: Vec<Vec<f32>>,
    /// Which rows are Byzantine (at most `f`).
    pub byzantine: Vec<usize>,
}

impl Case {
    /// Generates a case from a seed: `n` rows, `byz` of them Byzantine with the given attacks.
    pub fn generate(n: usize, f: usize, d: usize, attacks: &[Attack], seed: u64) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let center: Vec<f32> = (0..d).map(|_| rng.random_range(-5.0..5.0)).collect();
        let mut rows: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                center
                    .iter()
                    .map(|c| c + rng.random_range(-1.0f32..1.0))
                    .collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        // Honest rows always outnumber nothing less than one: at most min(f, n-1) Byzantine rows.
        let mut byzantine: Vec<usize> = order[..attacks.len().min(f).min(n - 1)].to_vec();
        byzantine.sort_unstable();
        for (&i, attack) in byzantine.iter().zip(attacks) {
            rows[i] = match attack {
                Attack::Huge => (0..d)
                    .map(|_| if rng.random() { 1e30 } else { -1e30 })
                    .collect(),
                Attack::Nan => vec![f32::NAN; d],
                Attack::PosInf => vec![f32::INFINITY; d],
                Attack::NegInf => vec![f32::NEG_INFINITY; d],
                Attack::Mixed => rows[i]
                    .iter()
                    .map(|&v| match rng.random_range(0..4) {
                        0 => f32::NAN,
                        1 => f32::INFINITY,
                        2 => f32::NEG_INFINITY,
                        _ => v,
                    })
                    .collect(),
                Attack::Far => center.iter().map(|c| c + 1e6).collect(),
            };
        }
        Case {
            f,
            d,
            rows,
            byzantine,
        }
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.rows.len()
    }

    /// The honest rows.
    pub fn honest(&self) -> Vec<&[f32]> {
        (0..self.n())
            .filter(|i| !self.byzantine.contains(i))
            .map(|i| self.rows[i].as_slice())
            .collect()
    }

    /// The rows as a tensor on `device`.
    pub fn tensor(&self, device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = self.rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [self.n(), self.d]), device)
    }

    /// The same case with its honest rows moved onto a random line (random gaps) and one more
    /// honest row: inputs in general position for every built-in rule's tie-breaks.
    pub fn on_a_line(&self) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(self.n() as u64 * 7919 + self.d as u64);
        let direction: Vec<f32> = (0..self.d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let origin = self.honest()[0].to_vec();
        let point = |t: f32| -> Vec<f32> {
            origin
                .iter()
                .zip(&direction)
                .map(|(o, u)| o + t * u)
                .collect()
        };
        let mut rows: Vec<Vec<f32>> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if self.byzantine.contains(&i) {
                    r.clone()
                } else {
                    point(rng.random_range(-3.0..3.0))
                }
            })
            .collect();
        rows.push(point(rng.random_range(-3.0..3.0)));
        Case {
            rows,
            ..self.clone()
        }
    }

    /// A scale for tolerances: the largest honest magnitude, at least 1.
    fn scale(&self) -> f32 {
        self.honest()
            .iter()
            .flat_map(|r| r.iter())
            .fold(1.0f32, |m, v| m.max(v.abs()))
    }
}

/// The conformance suite for one rule.
pub struct Suite {
    name: String,
    bound: Bound,
    guarantee: Guarantee,
    factory: Factory,
    cases: u32,
    seed: u64,
    max_f: usize,
    max_d: usize,
    device: Device,
    permutation: bool,
}

impl Suite {
    /// A suite for the rule `factory` builds, whose bound is `bound` and guarantee `guarantee`.
    pub fn new(
        name: &str,
        bound: Bound,
        guarantee: Guarantee,
        factory: impl Fn(usize, usize) -> Result<Box<dyn Aggregator>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.to_string(),
            bound,
            guarantee,
            factory: Box::new(factory),
            cases: 64,
            seed: 0x5eed_b425_9d00_0001,
            max_f: 3,
            max_d: 24,
            device: Device::default(),
            permutation: true,
        }
    }

    /// The suite of the built-in rule `name`, behind the pre-aggregation `pre` when given, on
    /// the implementation `exec`. After mixing, an honest input may have absorbed a nearby
    /// Byzantine one, so the honest coordinate range no longer binds a coordinate-wise rule:
    /// then the distance guarantee is checked, and permutation invariance is skipped for the
    /// rules that break exact ties by sender index (mixing makes ties by construction).
    pub fn builtin(
        name: &'static str,
        pre: Option<&'static str>,
        exec: crate::Exec,
    ) -> Result<Self> {
        let info = crate::registry::info(name)?;
        let bound = if pre.is_some() && info.bound.a < 2 {
            Bound::new(2, 1)
        } else {
            info.bound
        };
        let guarantee = if pre.is_some() && info.guarantee != Guarantee::None {
            Guarantee::Distance
        } else {
            info.guarantee
        };
        let suite = Suite::new(name, bound, guarantee, move |n, f| {
            crate::registry::build_with_pre(name, pre, n, f, exec)
        });
        let index_ties = !matches!(
            name,
            "median" | "trimmed-mean" | "geometric-median" | "centered-clipping"
        );
        Ok(if pre.is_some() && index_ties {
            suite.without_permutation_invariance()
        } else {
            suite
        })
    }

    /// Number of generated cases per property (default 64).
    pub fn with_cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The proptest seed (default fixed; printed on failure).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Largest `f` generated (default 3).
    pub fn with_max_f(mut self, max_f: usize) -> Self {
        self.max_f = max_f;
        self
    }

    /// The device the inputs are placed on (default: Burn's default device).
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Skips permutation invariance, for a rule whose definition breaks exact ties by sender
    /// index and whose inputs tie by construction (NNM gives inputs with the same neighbours the
    /// same mixed vector, so Krum, MDA and the like then choose among equals by index).
    pub fn without_permutation_invariance(mut self) -> Self {
        self.permutation = false;
        self
    }

    /// Runs every property; panics with the seed and the failing case on the first failure.
    pub fn run(&self) {
        if let Err(msg) = self.check() {
            panic!("{msg}");
        }
    }

    /// Runs every property; the first failure, with the seed and the failing case, is the
    /// error (for a runner that checks many rules and reports each, as `byzsgd rules --check`).
    pub fn check(&self) -> Result<(), String> {
        for f in 0..=self.max_f {
            self.check_bound_refusal(f)
                .map_err(|msg| format!("{}: bound refusal failed for f = {f}: {msg}", self.name))?;
        }
        self.property("identity", |s, case| s.check_identity(case))?;
        // Ties are broken by sender index (ALGORITHMS.md), so invariance holds only for inputs
        // without exact ties; and ties are structural in general data (two subsets sharing their
        // farthest pair have the same diameter). Points along a random line with distinct gaps
        // have no tied diameters, Krum scores or coordinate distances; one extra input keeps
        // Krum with f = 0 off its own structural tie (each input's single nearest neighbour).
        if self.permutation {
            self.property("permutation invariance", |s, case| {
                s.check_permutation(&case.on_a_line())
            })?;
        }
        self.property("determinism", |s, case| s.check_determinism(case))?;
        if self.guarantee != Guarantee::None {
            self.property("robustness", |s, case| s.check_robustness(case))?;
        }
        Ok(())
    }

    fn property(
        &self,
        what: &str,
        check: impl Fn(&Self, &Case) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        let config = Config {
            cases: self.cases,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let bound = self.bound;
        let strategy = (
            0..=self.max_f,
            0..=3usize,
            1..=self.max_d,
            any::<u64>(),
            proptest::collection::vec(0..6usize, 0..=self.max_f),
        )
            .prop_map(move |(f, extra, d, seed, kinds)| {
                let n = bound.min_inputs(f).max(1) + extra;
                let attacks: Vec<Attack> = kinds.iter().map(|&k| ATTACKS[k]).collect();
                Case::generate(n, f, d, &attacks, seed)
            });
        runner
            .run(&strategy, |case| {
                check(self, &case).map_err(TestCaseError::fail)
            })
            .map_err(|e| {
                format!(
                    "{}: {what} failed (suite seed {:#x}): {e}",
                    self.name, self.seed
                )
            })
    }

    fn run_rule(&self, case: &Case) -> Result<Vec<f32>, String> {
        let rule = (self.factory)(case.n(), case.f)
            .map_err(|e| format!("init refused a valid (n, f): {e}"))?;
        let out = rule
            .aggregate(case.tensor(&self.device))
            .map_err(|e| format!("aggregate failed: {e}"))?;
        let [d] = out.dims();
        if d != case.d {
            return Err(format!("output has {d} values, expected {}", case.d));
        }
        crate::rows::host_vector(out).map_err(|e| e.to_string())
    }

    /// `n` copies of one honest row aggregate to that row.
    pub fn check_identity(&self, case: &Case) -> Result<(), String> {
        let row = case.honest()[0].to_vec();
        let same = Case {
            rows: vec![row.clone(); case.n()],
            byzantine: vec![],
            ..case.clone()
        };
        let out = self.run_rule(&same)?;
        close(&out, &row, 1e-5 * same.scale()).map_err(|e| format!("identity: {e}"))
    }

    /// Shuffling the rows leaves the output unchanged (up to f32 rounding).
    pub fn check_permutation(&self, case: &Case) -> Result<(), String> {
        let mut order: Vec<usize> = (0..case.n()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            case.n() as u64 * 31 + case.d as u64,
        ));
        let shuffled = Case {
            rows: order.iter().map(|&i| case.rows[i].clone()).collect(),
            byzantine: order
                .iter()
                .enumerate()
                .filter(|(_, i)| case.byzantine.contains(i))
                .map(|(p, _)| p)
                .collect(),
            ..case.clone()
        };
        let (a, b) = (self.run_rule(case)?, self.run_rule(&shuffled)?);
        if self.guarantee == Guarantee::None && !a.iter().all(|v| v.is_finite()) {
            return Ok(());
        }
        close(&a, &b, 1e-5 * case.scale()).map_err(|e| format!("permutation {order:?}: {e}"))
    }

    /// The same inputs twice give bit-identical outputs.
    pub fn check_determinism(&self, case: &Case) -> Result<(), String> {
        let (a, b) = (self.run_rule(case)?, self.run_rule(case)?);
        if a.iter()
            .map(|v| v.to_bits())
            .eq(b.iter().map(|v| v.to_bits()))
        {
            Ok(())
        } else {
            Err(format!("two runs differ: {a:?} vs {b:?}"))
        }
    }

    /// With the case's Byzantine rows, the output is finite and inside the rule's guarantee.
    pub fn check_robustness(&self, case: &Case) -> Result<(), String> {
        let out = self.run_rule(case)?;
        if let Some(j) = out.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "output[{j}] = {} is not finite (byzantine rows {:?})",
                out[j], case.byzantine
            ));
        }
        let honest = case.honest();
        let tol = 1e-5 * case.scale();
        match self.guarantee {
            Guarantee::None => Ok(()),
            Guarantee::Coordinatewise | Guarantee::Widened => {
                for (j, &v) in out.iter().enumerate() {
                    let mut lo = honest.iter().map(|r| r[j]).fold(f32::INFINITY, f32::min);
                    let mut hi = honest
                        .iter()
                        .map(|r| r[j])
                        .fold(f32::NEG_INFINITY, f32::max);
                    if self.guarantee == Guarantee::Widened {
                        let width = hi - lo;
                        (lo, hi) = (lo - width, hi + width);
                    }
                    if v < lo - tol || v > hi + tol {
                        return Err(format!(
                            "output[{j}] = {v} outside the honest range [{lo}, {hi}] ({:?})",
                            self.guarantee
                        ));
                    }
                }
                Ok(())
            }
            Guarantee::Distance => {
                let mean: Vec<f64> = (0..case.d)
                    .map(|j| honest.iter().map(|r| r[j] as f64).sum::<f64>() / honest.len() as f64)
                    .collect();
                let mut diameter = 0.0f64;
                for a in &honest {
                    for b in &honest {
                        diameter = diameter.max(norm(
                            a.iter().zip(b.iter()).map(|(x, y)| *x as f64 - *y as f64),
                        ));
                    }
                }
                let dist = norm(out.iter().zip(&mean).map(|(v, m)| *v as f64 - m));
                if dist <= 2.0 * diameter + tol as f64 {
                    Ok(())
                } else {
                    Err(format!(
                        "output is {dist} from the honest mean, beyond 2D = {}",
                        2.0 * diameter
                    ))
                }
            }
        }
    }

    /// `init` refuses one input fewer than the bound and accepts the bound; a built rule refuses
    /// too few rows at aggregation time.
    pub fn check_bound_refusal(&self, f: usize) -> Result<(), String> {
        let min = self.bound.min_inputs(f).max(1);
        match (self.factory)(min - 1, f) {
            Err(Error::Bound { .. }) => {}
            Err(other) => {
                return Err(format!(
                    "n = {} refused, but not as a bound error: {other}",
                    min - 1
                ));
            }
            Ok(_) => {
                return Err(format!(
                    "n = {} accepted, below the bound {}",
                    min - 1,
                    self.bound
                ));
            }
        }
        let rule = (self.factory)(min, f).map_err(|e| format!("n = {min} refused: {e}"))?;
        if min > 1 {
            let few = Case::generate(min - 1, f, 3, &[], 1);
            match rule.aggregate(few.tensor(&self.device)) {
                Err(Error::Bound { .. }) => {}
                Err(other) => {
                    return Err(format!(
                        "{} rows refused, but not as a bound error: {other}",
                        min - 1
                    ));
                }
                Ok(_) => {
                    return Err(format!(
                        "aggregated {} rows, below the bound {}",
                        min - 1,
                        self.bound
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The host kernels (on `host`, a CPU device) and the tensor ops on `device` compute the same
/// built-in rule `name` (with the pre-aggregation `pre`): the same kept inputs, and the same
/// output up to f32 rounding (relative 1e-4), on one random case with Byzantine rows per seed.
pub fn paths_agree(
    name: &str,
    pre: Option<&str>,
    host: &Device,
    device: &Device,
    seeds: std::ops::Range<u64>,
) -> Result<(), String> {
    let rule = crate::registry::info(name).map_err(|e| e.to_string())?;
    let attacks = [Attack::Huge, Attack::Nan, Attack::Far, Attack::Mixed];
    for seed in seeds {
        let f = (seed % 3) as usize;
        let n = rule.bound.min_inputs(f).max(2 * f + 1) + (seed % 4) as usize;
        let case = Case::generate(n, f, 300, &attacks[..f.min(attacks.len())], seed);
        let what = format!("{name} {pre:?} seed {seed} n {n} f {f}");
        let build = |exec| {
            crate::registry::build_with_pre(name, pre, n, f, exec)
                .map_err(|e| format!("{what}: {e}"))
        };
        let a = build(crate::Exec::Auto)?
            .aggregate_detailed(case.tensor(host))
            .map_err(|e| format!("{what}: host kernels: {e}"))?;
        let b = build(crate::Exec::TensorOps)?
            .aggregate_detailed(case.tensor(device))
            .map_err(|e| format!("{what}: tensor ops: {e}"))?;
        if a.kept != b.kept {
            return Err(format!(
                "{what}: kept {:?} on the host, {:?} with tensor ops",
                a.kept, b.kept
            ));
        }
        // The average is not robust: with Byzantine rows both paths give garbage, not equal.
        if name == "average" && f > 0 {
            continue;
        }
        let host_out = crate::rows::host_vector(a.value).map_err(|e| e.to_string())?;
        let device_out = crate::rows::host_vector(b.value).map_err(|e| e.to_string())?;
        for (j, (x, y)) in host_out.iter().zip(&device_out).enumerate() {
            let gap = (x - y).abs();
            if gap.is_nan() || gap > 1e-4 * x.abs().max(1.0) {
                return Err(format!(
                    "{what}: coordinate {j}: {x} on the host, {y} with tensor ops"
                ));
            }
        }
    }
    Ok(())
}

fn norm(values: impl Iterator<Item = f64>) -> f64 {
    values.map(|v| v * v).sum::<f64>().sqrt()
}

/// Equal up to `tol` (absolute, for values near the honest scale) or relative 1e-5.
fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), String> {
    for (j, (x, y)) in a.iter().zip(b).enumerate() {
        let tol = tol.max(1e-5 * x.abs().max(y.abs()));
        if !((x - y).abs() <= tol || x.to_bits() == y.to_bits()) {
            return Err(format!("coordinate {j}: {x} vs {y} (tolerance {tol})"));
        }
    }
    Ok(())
}
