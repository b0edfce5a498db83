//! [`ByzSgd`]: train any Burn module of yours under ByzSGD, in process, with the options of
//! `byzsgd simulate`, and a rule or attack of your own if you like.
//!
//! ```no_run
//! # use byzsgd_burn::ByzSgd;
//! # fn demo<M: byzsgd_burn::Trainable + 'static, I: Send + Sync + 'static>(
//! #     model: M,
//! #     data: impl burn::data::dataset::Dataset<I> + 'static,
//! #     batcher: impl burn::data::dataloader::batcher::Batcher<I, M::Batch> + 'static,
//! #     device: burn::tensor::Device,
//! # ) -> byzsgd_burn::Result<()> {
//! let trained = ByzSgd::new(model, data, batcher, device)
//!     .servers(5, 1)
//!     .workers(7, 2)
//!     .attack("alie")
//!     .steps(200)
//!     .run(&mut |row| println!("step {} loss {:?}", row.step, row.loss))?;
//! println!("model hash {:016x}", trained.report.model_hash);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use byzsgd_core::node::{ClusterSpec, RuleFactory, StepRow, WorkerAttackFactory};
use byzsgd_core::sim::{Report, Simulation};
use byzsgd_datasets::{BatchPlan, shard_iid};

use crate::source::{Evaluate, Flip, ModuleSource};
use crate::{BurnError, Result, Trainable, param_count};

/// A finished run: its report and the trained model.
#[derive(Debug)]
pub struct Trained<M> {
    /// Metrics, hash, accuracy.
    pub report: Report,
    /// The product of the run, without autodiff: the coordinate-wise median of every replica's
    /// final model ([`Report::final_model`]), safe whatever `f_ps` of them lie. Save it in Burn's
    /// record format with `Module::save_file(path)`.
    pub model: M,
}

/// A ByzSGD run of a Burn model, configured step by step.
pub struct ByzSgd<M: Trainable, I> {
    config: ClusterSpec,
    model: M,
    device: Device,
    train: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, M::Batch>>,
    flip: Option<Flip<I>>,
    evaluate: Option<Evaluate<M>>,
    shards: Option<Vec<Vec<usize>>>,
    rule: Option<RuleFactory>,
    attack: Option<WorkerAttackFactory>,
}

macro_rules! setter {
    ($(#[$doc:meta] $name:ident: $ty:ty => $field:ident),* $(,)?) => {$(
        #[$doc]
        pub fn $name(mut self, v: $ty) -> Self {
            self.config.$field = v.into();
            self
        }
    )*};
}

impl<M, I> ByzSgd<M, I>
where
    M: Trainable + 'static,
    I: Send + Sync + 'static,
{
    /// Trains `model` (whose parameters are the initial model of every correct server; it must
    /// live on an autodiff `device`) on `train`, batched by `batcher`, with the defaults of
    /// [`ClusterSpec`].
    pub fn new(
        model: M,
        train: impl Dataset<I> + 'static,
        batcher: impl Batcher<I, M::Batch> + 'static,
        device: Device,
    ) -> Self {
        Self {
            config: ClusterSpec::default(),
            model,
            device,
            train: Arc::new(train),
            batcher: Arc::new(batcher),
            flip: None,
            evaluate: None,
            shards: None,
            rule: None,
            attack: None,
        }
    }

    /// Replaces every option at once (the CLI's `--config FILE.toml`).
    pub fn config(mut self, config: ClusterSpec) -> Self {
        self.config = config;
        self
    }

    /// `n` servers of which `f` Byzantine.
    pub fn servers(mut self, n: usize, f: usize) -> Self {
        (self.config.servers, self.config.byz_servers) = (n, f);
        self
    }

    /// `n` workers of which `f` Byzantine.
    pub fn workers(mut self, n: usize, f: usize) -> Self {
        (self.config.workers, self.config.byz_workers) = (n, f);
        self
    }

    setter! {
        /// The Byzantine workers' attack.
        attack: &str => attack,
        /// The Byzantine servers' attack.
        server_attack: &str => server_attack,
        /// The gradient aggregation rule.
        gar: &str => gar,
        /// `async`, `sync` or `vanilla`.
        mode: &str => mode,
        /// Gather period `T`.
        gather_period: u64 => gather_period,
        /// Steps.
        steps: u64 => steps,
        /// Minibatch per worker.
        batch: usize => batch,
        /// Learning rate or schedule.
        lr: &str => lr,
        /// Worker momentum.
        momentum: f64 => momentum,
        /// Sync mode: the Lipschitz filter's slack (default 2; 1: the paper's filter).
        lipschitz_slack: f64 => lipschitz_slack,
        /// The seed of everything.
        seed: u64 => seed,
        /// Evaluation period.
        eval_every: u64 => eval_every,
        /// Gradient threads.
        threads: usize => threads,
    }

    /// Servers aggregate gradients with a rule of your own (any [`Aggregator`]): `rule(n, f)`
    /// builds it for the `n` gradients a replica aggregates, `f` of them Byzantine. It replaces
    /// the `gar` option; a pre-aggregation (`pre`) still goes in front of it.
    ///
    /// [`Aggregator`]: byzsgd_core::Aggregator
    pub fn rule(
        mut self,
        rule: impl Fn(usize, usize) -> byzsgd_core::Result<Box<dyn byzsgd_core::Aggregator>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.rule = Some(Arc::new(rule));
        self
    }

    /// Byzantine workers run an attack of your own (any [`WorkerAttack`]) rather than the
    /// `attack` option.
    ///
    /// [`WorkerAttack`]: byzsgd_core::attacks::WorkerAttack
    pub fn worker_attack(
        mut self,
        attack: impl Fn() -> byzsgd_core::Result<Box<dyn byzsgd_core::attacks::WorkerAttack>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.attack = Some(Arc::new(attack));
        self
    }

    /// How `labelflip` flips an item's label.
    pub fn label_flip(mut self, flip: impl Fn(I) -> I + Send + Sync + 'static) -> Self {
        self.flip = Some(Arc::new(flip));
        self
    }

    /// How to score a model (test accuracy): called with the first honest server's model every
    /// `eval_every` steps and at the end.
    pub fn evaluate(mut self, eval: impl Fn(&M) -> f64 + Send + Sync + 'static) -> Self {
        self.evaluate = Some(Arc::new(eval));
        self
    }

    /// Each worker's indices into the training set (default: IID shards from the seed).
    pub fn shards(mut self, shards: Vec<Vec<usize>>) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The options as they stand.
    pub fn options(&self) -> &ClusterSpec {
        &self.config
    }

    /// Checks everything and builds the simulation without running it.
    pub fn build(self) -> Result<(Simulation, ModuleSource<M, I>)> {
        let mut cluster = self.config.resolve()?;
        if let Some(rule) = self.rule {
            cluster = cluster.with_rule(rule)?;
        }
        if let Some(attack) = self.attack {
            cluster = cluster.with_worker_attack(attack)?;
        }
        let flip = (0..self.config.workers)
            .map(|w| -> Result<_> {
                if !cluster.flips_labels(w)? {
                    return Ok(None);
                }
                match &self.flip {
                    Some(f) => Ok(Some(f.clone())),
                    None => Err(BurnError::Config(
                        "attack labelflip needs to know how to flip a label: call label_flip"
                            .into(),
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let n_w = self.config.workers;
        let shards = match self.shards {
            Some(s) if s.len() == n_w => s,
            Some(s) => {
                return Err(BurnError::Config(format!(
                    "{} shards for {n_w} workers",
                    s.len()
                )));
            }
            None => match self.config.dirichlet().map_err(BurnError::from)? {
                None => shard_iid(self.train.len(), n_w, self.config.seed)
                    .map_err(|e| BurnError::Data(e.to_string()))?,
                Some(_) => {
                    return Err(BurnError::Config(format!(
                        "shard {:?} needs the labels: pass shards(shard_dirichlet(..)) \
                         (train_classifier does)",
                        self.config.shard
                    )));
                }
            },
        };
        let plans = shards
            .into_iter()
            .enumerate()
            .map(|(w, shard)| {
                BatchPlan::new(shard, self.config.batch, self.config.seed ^ (w as u64 + 1))
                    .map_err(|e| BurnError::Data(format!("worker {w}'s shard: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let dim = param_count(&self.model);
        let source = ModuleSource {
            model: self.model,
            device: self.device,
            train: self.train,
            batcher: self.batcher,
            plans: Arc::new(plans),
            flip,
            evaluate: self.evaluate,
            dim,
        };
        let sim = Simulation::new(cluster, Box::new(source.clone()));
        Ok((sim, source))
    }

    /// Runs to the end, calling `progress` with every completed step.
    pub fn run(self, progress: &mut dyn FnMut(&StepRow)) -> Result<Trained<M>> {
        let (sim, source) = self.build()?;
        let report = sim.run(progress)?;
        let model = source.model_at(&report.final_model)?;
        Ok(Trained { report, model })
    }
}
