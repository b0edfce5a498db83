//! The synchronous variant's filters (ALGORITHMS.md, Synchronous variant): a worker checks the
//! model one server replied with, and the gradient it computed there, before it uses them.
//!
//! - Lipschitz filter: `k_t = ‖g_t − g_{t−1}‖ / ‖θ_t − θ_{t−1}‖`, accepted when `k_t` is at most
//!   the `100 (n_ps − f_ps) / n_ps` percentile (nearest rank) of the last `history` values
//!   measured on replies that passed the distance filter. ALGORITHMS.md says "accepted" values;
//!   with those the threshold ratchets down (each new value is at most the last threshold) until
//!   every honest reply is rejected: on the simulator's noisy quadratic, 861 rejections in 400
//!   worker steps. Measured values, of which at most a fraction `f_ps / n_ps` come from Byzantine
//!   replies, are what the `(n_ps − f_ps) / n_ps` percentile is made for. Accepted
//!   unconditionally while fewer than `warmup` are known, or when `θ_t = θ_{t−1}` up to f32
//!   rounding (`1e-6 ‖θ_t‖`: a model that did not move, e.g. after a skipped update, differs from
//!   the worker's last one by rounding only, and `k_t` would be noise over almost zero).
//! - Distance filter (only when `f_w > 0`): accepted when
//!   `‖θ_local − θ_t‖ ≤ η ‖g_t‖ ((3T + 2)(n_w − f_w) / (4 f_w) + 2 (max(t − 1, 0) mod T))`,
//!   `θ_local = θ_{t−1} − η g_{t−1}`. Here `‖g_t‖` is the norm of the worker's last accepted
//!   gradient, not of the gradient at the candidate: a Byzantine model far from the optimum has a
//!   large gradient there and would widen its own threshold (measured on a quadratic, a reversed
//!   model `−θ` passed that way and pushed the honest servers past the optimum).
//!
//! The reference code computes both and never rejects; these reject.

use std::collections::VecDeque;

use super::config::ClusterConfig;

/// The filters' settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterConfig {
    /// The base learning rate `η` of the distance filter.
    pub lr: f64,
    /// Measured `k` values known before the Lipschitz filter rejects (10).
    pub warmup: usize,
    /// Measured `k` values kept (100).
    pub history: usize,
}

impl FilterConfig {
    /// Filters for learning rate `lr`, with the defaults of ALGORITHMS.md.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            warmup: 10,
            history: 100,
        }
    }
}

/// What rejected a synchronous worker's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// The Lipschitz filter: the gradient moved too much for how much the model moved.
    Lipschitz,
    /// The distance filter: the model is too far from where the worker's last step leads.
    Distance,
    /// No reply before the pull timeout.
    Timeout,
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Filter::Lipschitz => "lipschitz",
            Filter::Distance => "distance",
            Filter::Timeout => "timeout",
        })
    }
}

/// Why a reply was rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rejection {
    /// Which filter.
    pub filter: Filter,
    /// The statistic.
    pub value: f64,
    /// The threshold it exceeded.
    pub threshold: f64,
}

/// One worker's filter state: its last accepted model and gradient, and the measured `k` values.
#[derive(Debug, Clone)]
pub struct Filters {
    config: FilterConfig,
    cluster: ClusterConfig,
    last: Option<(Vec<f32>, Vec<f32>)>,
    ks: VecDeque<f64>,
}

/// Squared norms, summed in f32 over runs of 256 values and in f64 across runs.
#[derive(Debug, Default)]
struct Sums {
    /// `‖θ_{t−1} − η g_{t−1} − θ_t‖²`.
    from_local: f64,
    /// `‖θ_t − θ_{t−1}‖²`.
    moved: f64,
    /// `‖g_t − g_{t−1}‖²`.
    grad_change: f64,
    /// `‖g_{t−1}‖²`.
    last_grad: f64,
    /// `‖θ_t‖²`.
    theta: f64,
}

fn sums(theta: &[f32], grad: &[f32], last_theta: &[f32], last_grad: &[f32], eta: f32) -> Sums {
    let mut out = Sums::default();
    let runs = theta
        .chunks(256)
        .zip(grad.chunks(256))
        .zip(last_theta.chunks(256).zip(last_grad.chunks(256)));
    for ((t, g), (lt, lg)) in runs {
        let mut r = [0.0f32; 5];
        for i in 0..t.len() {
            let local = lt[i] - eta * lg[i] - t[i];
            let moved = t[i] - lt[i];
            let dg = g[i] - lg[i];
            r[0] += local * local;
            r[1] += moved * moved;
            r[2] += dg * dg;
            r[3] += lg[i] * lg[i];
            r[4] += t[i] * t[i];
        }
        out.from_local += r[0] as f64;
        out.moved += r[1] as f64;
        out.grad_change += r[2] as f64;
        out.last_grad += r[3] as f64;
        out.theta += r[4] as f64;
    }
    out
}

impl Filters {
    /// Fresh filters: the first reply is accepted.
    pub fn new(config: FilterConfig, cluster: ClusterConfig) -> Self {
        Self {
            config,
            cluster,
            last: None,
            ks: VecDeque::new(),
        }
    }

    /// Checks the candidate model `theta` of `step` and the gradient `grad` computed there:
    /// the distance filter first, then the Lipschitz filter, whose `k_t` joins the history
    /// whether it passes or not (see the module docs).
    pub fn check(&mut self, step: u64, theta: &[f32], grad: &[f32]) -> Result<(), Rejection> {
        let Some((last_theta, last_grad)) = &self.last else {
            return Ok(());
        };
        let eta = self.config.lr as f32;
        // One pass for the four norms both filters need.
        let s = sums(theta, grad, last_theta, last_grad, eta);
        let c = &self.cluster;
        if c.f_w > 0 {
            let big_t = c.gather_period.max(1);
            let scatter = (3 * big_t + 2) as f64 * (c.n_w - c.f_w) as f64 / (4 * c.f_w) as f64;
            let since = 2.0 * (step.saturating_sub(1) % big_t) as f64;
            let threshold = self.config.lr * s.last_grad.sqrt() * (scatter + since);
            let value = s.from_local.sqrt();
            if value.is_nan() || value > threshold {
                return Err(Rejection {
                    filter: Filter::Distance,
                    value,
                    threshold,
                });
            }
        }
        let moved = s.moved.sqrt();
        if moved <= (1e-6 * s.theta.sqrt()).max(1e-12) {
            return Ok(());
        }
        let k = s.grad_change.sqrt() / moved;
        let verdict = if self.ks.len() >= self.config.warmup {
            let threshold = self.percentile();
            if k.is_nan() || k > threshold {
                Err(Rejection {
                    filter: Filter::Lipschitz,
                    value: k,
                    threshold,
                })
            } else {
                Ok(())
            }
        } else {
            Ok(())
        };
        if k.is_finite() {
            if self.ks.len() == self.config.history {
                self.ks.pop_front();
            }
            self.ks.push_back(k);
        }
        verdict
    }

    /// Records the model the worker used and its gradient: the next check's `θ_{t−1}`, `g_{t−1}`.
    pub fn accept(&mut self, theta: &[f32], grad: &[f32]) {
        self.last = Some((theta.to_vec(), grad.to_vec()));
    }

    /// The `100 (n_ps − f_ps) / n_ps` percentile of the measured `k`, nearest rank.
    fn percentile(&self) -> f64 {
        let mut ks: Vec<f64> = self.ks.iter().copied().collect();
        ks.sort_by(f64::total_cmp);
        let (n, f) = (self.cluster.n_ps, self.cluster.f_ps);
        let rank = ((n - f) * ks.len()).div_ceil(n).max(1);
        ks[rank - 1]
    }
}
