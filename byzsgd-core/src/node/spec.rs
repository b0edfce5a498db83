//! The one cluster configuration: [`ClusterSpec`] is what a TOML file, the CLI's flags and the
//! builder all fill (with the defaults of ALGORITHMS.md); [`ClusterSpec::resolve`] checks every
//! setting once and gives the [`Cluster`] that builds each node.

use serde::{Deserialize, Serialize};

use super::cluster::Cluster;
use super::schedule::LrSchedule;
use crate::attacks::{parse_server_attack, parse_worker_attack};
use crate::protocol::{ClusterConfig, Mode};
use crate::registry::{self, Guarantee};
use crate::sim::NetworkConfig;
use crate::{Error, Result};

/// The shortest timer accepted, in the runtime's time unit: a shorter one would fire without
/// time passing (the simulator's clock is an f64) and spin.
pub const MIN_TIMER: f64 = 1e-3;

/// How long a node waits before it gives up on a peer (synchronous mode), in the runtime's time
/// unit (the simulator's: one gradient computation). Each at least [`MIN_TIMER`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timers {
    /// How long a server waits for the gradients of a step. It only matters when a gradient is
    /// missing (all arrived: the server goes on); it must leave a worker time to try every server
    /// (`n_ps` gradients and pulls) or rejections turn into skipped steps.
    pub step_deadline: f64,
    /// How long a worker waits for the server it pulled from (or, pulling from every server,
    /// before it asks again those that did not answer).
    pub pull_timeout: f64,
    /// Asynchronous mode: how long a node waits for a quorum before it reports a stall and asks
    /// the peers it waits for to send again (the algorithm itself waits for `n − f`).
    pub stall: f64,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            step_deadline: 12.0,
            pull_timeout: 3.0,
            stall: 30.0,
        }
    }
}

/// A ByzSGD cluster and its training: sizes, rules, attacks, schedule, momentum, timers, and the
/// simulated network (read by the simulator only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSpec {
    /// Parameter-server replicas (`n_ps`).
    pub servers: usize,
    /// Byzantine replicas (`f_ps`); the last ones are Byzantine.
    pub byz_servers: usize,
    /// Workers (`n_w`).
    pub workers: usize,
    /// Byzantine workers (`f_w`); the first ones are Byzantine.
    pub byz_workers: usize,
    /// The Byzantine workers' attack (`alie`, `foe:10`, `labelflip`, ...; see `byzsgd rules`).
    pub attack: String,
    /// The Byzantine servers' attack (`equivocate`, `random`, `reverse`, `stale`, `silent`).
    pub server_attack: String,
    /// Byzantine workers see only their own data rather than the honest gradients of the step
    /// (the simulator's omniscient adversary; over a real network they always do).
    pub attack_own_data: bool,
    /// The servers' gradient aggregation rule (a name of the registry; a rule of your own goes
    /// through [`Cluster::with_rule`]).
    pub gar: String,
    /// Pre-aggregation in front of the rule: `nnm` or `none`. Unset (the default), the mode's
    /// default: `nnm` in async mode, `none` otherwise ([`ClusterSpec::default_pre`]). The paper
    /// runs MDA alone: `none` is the paper-faithful setting.
    pub pre: Option<String>,
    /// `async`, `sync` or `vanilla`.
    pub mode: String,
    /// Gather period `T`; `None`: `max(1, floor(1 / (3 L η)))` with `L = lipschitz`.
    pub gather_period: Option<u64>,
    /// The Lipschitz estimate of the default gather period.
    pub lipschitz: f64,
    /// Sync mode: the Lipschitz filter accepts a reply whose `k_t` is at most this multiple of
    /// the `(n_ps − f_ps) / n_ps` percentile of the measured values (1: the paper's filter).
    /// Default 2. On Fashion-MNIST (`mlp`, 300 honest steps) the paper's filter rejected 794 of
    /// 2,100 honest replies and all of them at 163 worker steps; each rejection costs a second
    /// gradient that every server of the step waits for, so a modelled cluster's step (a
    /// gradient: 1 time unit) took 3.51 units against vanilla's 1.39. With a slack of 2: 22
    /// rejections and 1.56 units; steps to 80% unchanged within the spread (155 against 156,
    /// seeds 1–10); the mean accuracy under every worker attack beside an equivocating server
    /// within 0.85 points of the paper's filter (seeds 1–3).
    pub lipschitz_slack: f64,
    /// Model-side contraction of the gathers (a coordinate-wise rule; `median`).
    pub contraction: String,
    /// Training steps (server updates).
    pub steps: u64,
    /// Minibatch size per worker and step.
    pub batch: usize,
    /// Learning rate: `0.1`, `step:LR:GAMMA:EVERY` or `inverse:LR:DECAY`.
    pub lr: String,
    /// Worker momentum `β` (0 disables, the paper's algorithm): each worker sends
    /// `v ← β v + (1 − β) g` rather than `g`, the defence of the literature against in-spread
    /// attacks (Karimireddy et al. 2021; the `1 − β` keeps the learning rate's meaning). Default
    /// 0.95: on Fashion-MNIST (mlp, MDA, 500 steps) 0.9 left ALIE 3.4 points and adaptive ALIE 7.1
    /// points below the honest run, 0.95 left them 0.8 and 0.9 points below; NNM in front of MDA
    /// did not help at 0.9.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// How the training set is split over workers: `iid`, or `dirichlet:ALPHA` (each class
    /// spread over workers in Dirichlet(ALPHA) proportions: small ALPHA, few classes each).
    pub shard: String,
    /// Seed of everything: model, data order, network, attacks.
    pub seed: u64,
    /// Evaluate the test accuracy every this many steps (and at the last); 0: only at the end.
    pub eval_every: u64,
    /// Threads computing gradients; 0: as many as the machine has (at most one per worker).
    pub threads: usize,
    /// Synchronous mode's deadlines.
    pub timers: Timers,
    /// The simulated network (the simulator only).
    pub network: NetworkConfig,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            servers: 5,
            byz_servers: 1,
            workers: 7,
            byz_workers: 2,
            attack: "alie".into(),
            server_attack: "equivocate".into(),
            attack_own_data: false,
            gar: "mda".into(),
            pre: None,
            mode: "async".into(),
            gather_period: None,
            lipschitz: 1.0,
            lipschitz_slack: 2.0,
            contraction: "median".into(),
            steps: 300,
            batch: 32,
            lr: "0.1".into(),
            momentum: 0.95,
            weight_decay: 0.0,
            shard: "iid".into(),
            seed: 1,
            eval_every: 50,
            threads: 0,
            timers: Timers::default(),
            network: NetworkConfig::default(),
        }
    }
}

impl ClusterSpec {
    /// The pre-aggregation an unset [`ClusterSpec::pre`] stands for in `mode`: nearest-neighbour
    /// mixing in async mode, nothing otherwise. Measured on Fashion-MNIST (`mlp`, MDA, worker
    /// momentum 0.95, seeds 1–5; BENCHMARKS.md, issue 15): async ByzSGD reached 80% test accuracy
    /// in 148 steps on average with NNM against 164 without (vanilla: 128), and under every worker
    /// attack beside an equivocating server ended within 0.6 points of MDA alone. An async
    /// replica aggregates only `n_w − f_w` gradients and MDA keeps `n_w − 2 f_w` of them (3 of 7
    /// here); mixing each with its nearest neighbours first lets more honest minibatches into the
    /// update. In sync mode (all `n_w` gradients, MDA keeps `n_w − f_w`) NNM was slower (156
    /// against 144), so it stays off there.
    pub fn default_pre(mode: Mode) -> &'static str {
        match mode {
            Mode::Async => "nnm",
            Mode::Sync | Mode::Vanilla => "none",
        }
    }

    /// The protocol variant.
    pub fn mode(&self) -> Result<Mode> {
        self.mode.parse()
    }

    /// The data split: `None` for IID, `Some(alpha)` for Dirichlet label skew.
    pub fn dirichlet(&self) -> Result<Option<f64>> {
        match self.shard.split_once(':') {
            None if self.shard == "iid" => Ok(None),
            Some(("dirichlet", a)) => match a.parse::<f64>() {
                Ok(alpha) if alpha.is_finite() && alpha > 0.0 => Ok(Some(alpha)),
                _ => Err(config(&format!(
                    "shard {:?}: the Dirichlet alpha must be a positive number",
                    self.shard
                ))),
            },
            _ => Err(config(&format!(
                "unknown shard {:?}; use iid or dirichlet:ALPHA",
                self.shard
            ))),
        }
    }

    /// Overrides the settings named in `table` (TOML keys, snake_case; tables `timers` and
    /// `network`), keeping the others: the one layering of defaults, a configuration file and
    /// command-line flags. An unknown key or a value of the wrong type is an error naming it.
    pub fn layer(&mut self, table: toml::Table) -> Result<()> {
        let mut base = toml::Table::try_from(&*self)
            .map_err(|e| Error::Config(format!("encoding the configuration: {e}")))?;
        for (key, value) in table {
            match (base.get_mut(&key), value) {
                // Tables merge key by key, so `[network] loss = 0.1` keeps the other settings.
                (Some(toml::Value::Table(old)), toml::Value::Table(new)) => old.extend(new),
                // A constant learning rate may be written as the number it is (`lr = 0.05`),
                // though the key also takes schedules (`"step:0.1:0.5:1000"`).
                (_, toml::Value::Float(x)) if key == "lr" => {
                    base.insert(key, toml::Value::String(x.to_string()));
                }
                (_, toml::Value::Integer(x)) if key == "lr" => {
                    base.insert(key, toml::Value::String(x.to_string()));
                }
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
        *self = ClusterSpec::deserialize(toml::Value::Table(base))
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(())
    }

    /// Checks every setting before anything starts (bounds, rule, contraction, attacks, schedule,
    /// momentum, timers, network) and derives the cluster. Errors name the setting, the bound and
    /// the numbers.
    pub fn resolve(&self) -> Result<Cluster> {
        let mode = self.mode()?;
        let lr = LrSchedule::parse(&self.lr)?;
        self.dirichlet()?;
        if self.steps == 0 || self.batch == 0 {
            return Err(config("steps and batch must be at least 1"));
        }
        if self.byz_servers > self.servers || self.byz_workers > self.workers {
            return Err(config(&format!(
                "more Byzantine nodes than nodes: {} of {} servers, {} of {} workers",
                self.byz_servers, self.servers, self.byz_workers, self.workers
            )));
        }
        let momentum_ok = (0.0..1.0).contains(&self.momentum);
        let decay_ok = self.weight_decay.is_finite() && self.weight_decay >= 0.0;
        if !(momentum_ok && decay_ok) {
            return Err(config(&format!(
                "momentum must be in [0, 1) and weight decay >= 0, got {} and {}",
                self.momentum, self.weight_decay
            )));
        }
        if !(self.lipschitz_slack.is_finite() && self.lipschitz_slack >= 1.0) {
            return Err(config(&format!(
                "lipschitz_slack must be a finite number of at least 1 (1: the paper's filter), \
                 got {}",
                self.lipschitz_slack
            )));
        }
        let gather_period = match self.gather_period {
            Some(t) => t,
            None => ClusterConfig::default_gather_period(self.lipschitz, lr.base())?,
        };
        let shape = ClusterConfig {
            n_ps: self.servers,
            f_ps: self.byz_servers,
            n_w: self.workers,
            f_w: self.byz_workers,
            gather_period,
            mode,
        };
        shape.validate()?;
        if mode == Mode::Vanilla && self.byz_workers > 0 {
            return Err(config(&format!(
                "vanilla mode trusts every worker, got {} Byzantine",
                self.byz_workers
            )));
        }
        let contraction = registry::info(&self.contraction)?;
        if !matches!(
            contraction.guarantee,
            Guarantee::Coordinatewise | Guarantee::Widened
        ) {
            return Err(config(&format!(
                "the contraction must be a coordinate-wise rule (median, trimmed-mean, meamed, \
                 phocas), got {}",
                self.contraction
            )));
        }
        if self.byz_workers > 0 {
            parse_worker_attack(&self.attack)?;
        }
        if self.byz_servers > 0 {
            parse_server_attack(&self.server_attack, gather_period)?;
        }
        for (what, v) in [
            ("timers.step_deadline", self.timers.step_deadline),
            ("timers.pull_timeout", self.timers.pull_timeout),
            ("timers.stall", self.timers.stall),
        ] {
            if !(v.is_finite() && v >= MIN_TIMER) {
                return Err(config(&format!(
                    "{what} must be a finite time of at least {MIN_TIMER}, got {v}"
                )));
            }
        }
        self.network.validate()?;
        // The resolved spec names its pre-aggregation, so that resolving it again (a node built
        // from a cluster's spec) can never change it.
        let mut spec = self.clone();
        spec.pre
            .get_or_insert_with(|| Self::default_pre(mode).to_string());
        let cluster = Cluster::new(spec, shape, lr);
        cluster.rule()?;
        cluster.contraction()?;
        Ok(cluster)
    }
}

fn config(msg: &str) -> Error {
    Error::Config(msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_key_by_key_and_refuse_unknown_keys() {
        let mut spec = ClusterSpec::default();
        let table: toml::Table =
            toml::from_str("servers = 8\n[network]\nloss = 0.1\n[timers]\npull_timeout = 5.0")
                .unwrap();
        spec.layer(table).unwrap();
        assert_eq!(spec.servers, 8);
        assert_eq!(spec.network.loss, 0.1);
        assert_eq!(spec.network.latency, NetworkConfig::default().latency);
        assert_eq!(spec.timers.pull_timeout, 5.0);
        assert_eq!(spec.timers.step_deadline, Timers::default().step_deadline);
        let err = spec
            .layer(toml::from_str("sevrers = 3").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sevrers"), "{err}");
        let err = spec
            .layer(toml::from_str("servers = \"five\"").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("servers") || err.contains("integer"), "{err}");
        assert_eq!(spec.servers, 8, "a refused layer changes nothing");
        // A constant learning rate as a number, as a schedule string, or an integer.
        spec.layer(toml::from_str("lr = 0.07").unwrap()).unwrap();
        assert_eq!(spec.lr, "0.07");
        spec.layer(toml::from_str("lr = 1").unwrap()).unwrap();
        assert_eq!(spec.lr, "1");
        spec.layer(toml::from_str("lr = \"inverse:0.1:0.01\"").unwrap())
            .unwrap();
        assert_eq!(spec.lr, "inverse:0.1:0.01");
    }

    #[test]
    fn an_unset_pre_aggregation_is_the_modes_default_and_stays_resolved() {
        let pre = |mode: &str, pre: Option<&str>| {
            let spec = ClusterSpec {
                mode: mode.into(),
                pre: pre.map(Into::into),
                ..ClusterSpec::default()
            };
            let cluster = spec.resolve().unwrap();
            let again = cluster.spec().resolve().unwrap();
            assert_eq!(
                again.spec().pre,
                cluster.spec().pre,
                "resolving twice changed it"
            );
            (
                cluster.spec().pre.clone().unwrap(),
                cluster.rule().unwrap().name(),
            )
        };
        let (async_pre, async_rule) = pre("async", None);
        assert_eq!(async_pre, "nnm");
        assert!(async_rule.contains("nnm"), "{async_rule}");
        let (none, rule) = pre("async", Some("none"));
        assert_eq!(none, "none");
        assert!(!rule.contains("nnm"), "{rule}");
        assert_eq!(pre("sync", None).0, "none");
        assert_eq!(pre("sync", Some("nnm")).0, "nnm");
        let bad = ClusterSpec {
            pre: Some("nmn".into()),
            ..ClusterSpec::default()
        };
        let err = bad.resolve().unwrap_err().to_string();
        assert!(err.contains("nmn") && err.contains("none"), "{err}");
    }

    #[test]
    fn resolve_names_what_is_wrong() {
        let bad = |f: &dyn Fn(&mut ClusterSpec)| {
            let mut s = ClusterSpec::default();
            f(&mut s);
            s.resolve().unwrap_err().to_string()
        };
        assert!(bad(&|s| s.servers = 4).contains("n_ps >= 3 f_ps + 2"));
        assert!(bad(&|s| s.gar = "krum".into()).contains("krum"));
        assert!(bad(&|s| s.contraction = "mda".into()).contains("coordinate-wise"));
        assert!(bad(&|s| s.attack = "alie:x".into()).contains("alie:x"));
        assert!(bad(&|s| s.timers.pull_timeout = f64::NAN).contains("timers.pull_timeout"));
        assert!(bad(&|s| s.momentum = 1.0).contains("momentum"));
        assert!(bad(&|s| s.lipschitz_slack = 0.9).contains("lipschitz_slack"));
        assert!(bad(&|s| s.lipschitz_slack = f64::NAN).contains("lipschitz_slack"));
        assert!(bad(&|s| s.lipschitz_slack = f64::INFINITY).contains("lipschitz_slack"));
        assert!(ClusterSpec::default().resolve().is_ok());
    }
}
