//! [`ByzSgd`]: train any Burn module of yours under ByzSGD, in process, with the options of
//! `byzsgd simulate`.
//!
//! ```no_run
//! # use byzsgd_burn::sim::{ByzSgd, SimConfig};
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
use byzsgd_core::protocol::Update;
use byzsgd_datasets::{BatchPlan, shard_iid};

use super::config::SimConfig;
use super::engine::{Report, Simulation};
use super::metrics::StepRow;
use super::module_oracle::{Evaluate, Flip, ModuleOracle};
use super::update::HostSgd;
use crate::{BurnError, Result, Trainable, param_count};

/// A finished run: its report and the first honest server's final model.
#[derive(Debug)]
pub struct Trained<M> {
    /// Metrics, hash, accuracy.
    pub report: Report,
    /// The trained model, without autodiff.
    pub model: M,
}

/// A ByzSGD run of a Burn model, configured step by step.
pub struct ByzSgd<M: Trainable, I> {
    config: SimConfig,
    model: M,
    device: Device,
    train: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, M::Batch>>,
    flip: Option<Flip<I>>,
    evaluate: Option<Evaluate<M>>,
    shards: Option<Vec<Vec<usize>>>,
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
    /// [`SimConfig`].
    pub fn new(
        model: M,
        train: impl Dataset<I> + 'static,
        batcher: impl Batcher<I, M::Batch> + 'static,
        device: Device,
    ) -> Self {
        Self {
            config: SimConfig::default(),
            model,
            device,
            train: Arc::new(train),
            batcher: Arc::new(batcher),
            flip: None,
            evaluate: None,
            shards: None,
        }
    }

    /// Replaces every option at once (the CLI's `--config FILE.toml`).
    pub fn config(mut self, config: SimConfig) -> Self {
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
        /// The seed of everything.
        seed: u64 => seed,
        /// Evaluation period.
        eval_every: u64 => eval_every,
        /// Gradient threads.
        threads: usize => threads,
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
    pub fn options(&self) -> &SimConfig {
        &self.config
    }

    /// Checks everything and builds the simulation without running it.
    pub fn build(self) -> Result<(Simulation, ModuleOracle<M, I>)> {
        let resolved = self.config.resolve()?;
        if self.config.attack == "labelflip" && self.flip.is_none() && self.config.byz_workers > 0 {
            return Err(BurnError::Config(
                "attack labelflip needs to know how to flip a label: call label_flip".into(),
            ));
        }
        let n_w = self.config.workers;
        let shards = match self.shards {
            Some(s) if s.len() == n_w => s,
            Some(s) => {
                return Err(BurnError::Config(format!(
                    "{} shards for {n_w} workers",
                    s.len()
                )));
            }
            None => shard_iid(self.train.len(), n_w, self.config.seed)
                .map_err(|e| BurnError::Data(e.to_string()))?,
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
        let oracle = ModuleOracle {
            model: self.model,
            device: self.device,
            train: self.train,
            batcher: self.batcher,
            plans: Arc::new(plans),
            flip: self.flip,
            evaluate: self.evaluate,
            dim,
        };
        let (lr, wd) = (resolved.lr, self.config.weight_decay);
        let update = move || {
            Box::new(HostSgd {
                lr,
                weight_decay: wd,
            }) as Box<dyn Update>
        };
        let sim = Simulation::new(self.config, Box::new(oracle.clone()), Box::new(update))?;
        Ok((sim, oracle))
    }

    /// Runs to the end, calling `progress` with every completed step.
    pub fn run(self, progress: &mut dyn FnMut(&StepRow)) -> Result<Trained<M>> {
        let (sim, oracle) = self.build()?;
        let report = sim.run(progress)?;
        let model = oracle.model_at(&report.final_params)?;
        Ok(Trained { report, model })
    }
}
