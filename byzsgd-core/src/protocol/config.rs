//! The cluster's shape and the bounds it must satisfy before anything starts.

use super::types::Node;
use crate::{Bound, Error, Result};

/// Which variant of the protocol runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Asynchronous ByzSGD: quorums of `n - f`, scatter/gather with DMC.
    #[default]
    Async,
    /// Synchronous ByzSGD: a worker pulls from one server per scatter step and filters the reply
    /// (Lipschitz and distance filters); servers wait for all `n_w` gradients up to a deadline.
    Sync,
    /// One trusted server averaging every worker's gradient; nothing Byzantine.
    Vanilla,
}

/// The largest gather period accepted: a million steps (longer than any run; a period derived
/// from a tiny Lipschitz estimate would otherwise be `2^64 − 1`).
pub const MAX_GATHER_PERIOD: u64 = 1_000_000;

/// Sizes, Byzantine counts and the gather period of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Parameter-server replicas.
    pub n_ps: usize,
    /// Byzantine replicas tolerated.
    pub f_ps: usize,
    /// Workers.
    pub n_w: usize,
    /// Byzantine workers tolerated.
    pub f_w: usize,
    /// Gather every `gather_period` steps (`T`); 0 disables gathers (for experiments only).
    pub gather_period: u64,
    /// The variant.
    pub mode: Mode,
}

impl std::str::FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "async" => Ok(Mode::Async),
            "sync" => Ok(Mode::Sync),
            "vanilla" => Ok(Mode::Vanilla),
            _ => Err(Error::Config(format!(
                "unknown mode {s:?}; known: async, sync, vanilla"
            ))),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Async => "async",
            Mode::Sync => "sync",
            Mode::Vanilla => "vanilla",
        })
    }
}

impl ClusterConfig {
    /// Checks the paper's bounds (`n_ps >= 3 f_ps + 2`, `n_w >= 3 f_w + 1`; any `n >= 1` with
    /// `f = 0`) and, for vanilla mode, a single trusted server and no Byzantine worker.
    pub fn validate(&self) -> Result<()> {
        let check = |what: &str, n: usize, f: usize, bound: Bound| -> Result<()> {
            if n == 0 {
                return Err(Error::Config(format!(
                    "{what}: at least one is needed, got 0"
                )));
            }
            if f == 0 {
                return Ok(());
            }
            bound.check(what, n, f)
        };
        check(
            "servers (n_ps >= 3 f_ps + 2)",
            self.n_ps,
            self.f_ps,
            Bound::new(3, 2),
        )?;
        check(
            "workers (n_w >= 3 f_w + 1)",
            self.n_w,
            self.f_w,
            Bound::new(3, 1),
        )?;
        if self.gather_period > MAX_GATHER_PERIOD {
            return Err(Error::Config(format!(
                "gather period T = {} is absurd (at most {MAX_GATHER_PERIOD}); set gather_period, \
                 or check lipschitz and lr, from which T = floor(1 / (3 L lr)) is derived",
                self.gather_period
            )));
        }
        if self.mode == Mode::Vanilla && (self.n_ps != 1 || self.f_ps != 0) {
            return Err(Error::Config(format!(
                "vanilla mode has one trusted server, got {} servers with {} Byzantine",
                self.n_ps, self.f_ps
            )));
        }
        Ok(())
    }

    /// Whether `node` is in a Byzantine slot: the first `f_w` workers and the last `f_ps` servers
    /// (where the simulator and the tests put them; over a network nobody knows which they are).
    pub fn is_byzantine(&self, node: Node) -> bool {
        match node {
            Node::Server(s) => s >= self.n_ps - self.f_ps,
            Node::Worker(w) => w < self.f_w,
        }
    }

    /// Gradients a server waits for: `n_w - f_w` (async), `n_w` (sync, up to a deadline; vanilla).
    pub fn q_w(&self) -> usize {
        match self.mode {
            Mode::Async => self.n_w - self.f_w,
            Mode::Sync | Mode::Vanilla => self.n_w,
        }
    }

    /// Models a worker or a gathering server waits for: `n_ps - f_ps`.
    pub fn q_ps(&self) -> usize {
        self.n_ps - self.f_ps
    }

    /// Whether `step` ends with a gather (`(step + 1) mod T == 0`).
    pub fn gathers_at(&self, step: u64) -> bool {
        self.mode != Mode::Vanilla
            && self.n_ps > 1
            && self.gather_period > 0
            && step
                .checked_add(1)
                .is_some_and(|s| s.is_multiple_of(self.gather_period))
    }

    /// Whether a synchronous worker pulls from every server at `step` (the step after a gather,
    /// and step 0) rather than from one.
    pub fn pulls_all_at(&self, step: u64) -> bool {
        step == 0 || self.gathers_at(step - 1)
    }

    /// The reference code's default gather period, `max(1, floor(1 / (3 L η)))`, or an error
    /// naming `L` and `η` when they are not positive finite numbers or give a period over
    /// [`MAX_GATHER_PERIOD`].
    pub fn default_gather_period(lipschitz: f64, lr: f64) -> Result<u64> {
        let t = (1.0 / (3.0 * lipschitz * lr)).floor().max(1.0);
        let ok = |v: f64| v.is_finite() && v > 0.0;
        let sane = ok(lipschitz) && ok(lr) && t <= MAX_GATHER_PERIOD as f64;
        if !sane {
            return Err(Error::Config(format!(
                "the default gather period floor(1 / (3 L lr)) needs a Lipschitz estimate L and a \
                 learning rate lr that are positive and not tiny, got L = {lipschitz}, lr = {lr} \
                 (T = {t}); set gather_period instead"
            )));
        }
        Ok(t as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n_ps: usize, f_ps: usize, n_w: usize, f_w: usize) -> ClusterConfig {
        ClusterConfig {
            n_ps,
            f_ps,
            n_w,
            f_w,
            gather_period: 10,
            mode: Mode::Async,
        }
    }

    #[test]
    fn bounds_name_the_numbers() {
        assert!(cluster(5, 1, 7, 2).validate().is_ok());
        let err = cluster(4, 1, 7, 2).validate().unwrap_err().to_string();
        assert!(
            err.contains("n_ps >= 3 f_ps + 2") && err.contains("got n = 4"),
            "{err}"
        );
        let err = cluster(5, 1, 6, 2).validate().unwrap_err().to_string();
        assert!(
            err.contains("n_w >= 3 f_w + 1") && err.contains("at least 7"),
            "{err}"
        );
        assert!(cluster(1, 0, 1, 0).validate().is_ok());
        assert_eq!(
            (cluster(5, 1, 7, 2).q_w(), cluster(5, 1, 7, 2).q_ps()),
            (5, 4)
        );
        assert_eq!(ClusterConfig::default_gather_period(1.0, 0.05).unwrap(), 6);
        for (l, lr) in [(0.0, 0.1), (1e-30, 0.1), (1.0, f64::NAN), (-1.0, 0.1)] {
            let err = ClusterConfig::default_gather_period(l, lr).unwrap_err();
            assert!(err.to_string().contains("gather_period"), "{err}");
        }
        let mut c = cluster(5, 1, 7, 2);
        c.gather_period = u64::MAX;
        assert!(c.validate().unwrap_err().to_string().contains("absurd"));
        assert!(!c.gathers_at(u64::MAX));
    }
}
