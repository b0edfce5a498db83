//! Gradients of any Burn module: a [`GradientSource`] over a [`Trainable`] model, a Burn
//! `Dataset` and a `Batcher`, each worker drawing its minibatches from its own shard of the data
//! (a label-flipping Byzantine worker from its shard with flipped labels).

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use byzsgd_core::node::GradientSource;
use byzsgd_core::rows::{host_vector, vector_on};
use byzsgd_datasets::BatchPlan;

use crate::{BurnError, Result, Trainable, flatten_params, gradient, load_params};

/// Label flipping for items of type `I` (`labelflip`: train on `classes − 1 − y`).
pub type Flip<I> = Arc<dyn Fn(I) -> I + Send + Sync>;
/// Test accuracy (or any score in `[0, 1]`) of a model with its parameters loaded.
pub type Evaluate<M> = Arc<dyn Fn(&M) -> f64 + Send + Sync>;

/// A [`GradientSource`] over a Burn model `M` and items `I`.
pub struct ModuleSource<M: Trainable, I> {
    pub(crate) model: M,
    pub(crate) device: Device,
    pub(crate) train: Arc<dyn Dataset<I>>,
    pub(crate) batcher: Arc<dyn Batcher<I, M::Batch>>,
    pub(crate) plans: Arc<Vec<BatchPlan>>,
    /// Per worker: how its items are poisoned (label flipping), if they are.
    pub(crate) flip: Vec<Option<Flip<I>>>,
    pub(crate) evaluate: Option<Evaluate<M>>,
    pub(crate) dim: usize,
}

impl<M: Trainable, I> Clone for ModuleSource<M, I> {
    fn clone(&self) -> Self {
        Self {
            model: self.model.clone(),
            device: self.device.clone(),
            train: self.train.clone(),
            batcher: self.batcher.clone(),
            plans: self.plans.clone(),
            flip: self.flip.clone(),
            evaluate: self.evaluate.clone(),
            dim: self.dim,
        }
    }
}

impl<M: Trainable, I> ModuleSource<M, I> {
    /// `model` with the flat `params` loaded, without autodiff.
    pub fn model_at(&self, params: &[f32]) -> Result<M> {
        let flat = vector_on(params.to_vec(), &self.device);
        Ok(load_params(self.model.clone(), flat)?.valid())
    }
}

impl<M, I> GradientSource for ModuleSource<M, I>
where
    M: Trainable + 'static,
    I: Send + Sync + 'static,
{
    fn dim(&self) -> usize {
        self.dim
    }

    fn initial_params(&self) -> Vec<f32> {
        host_vector(flatten_params(&self.model)).expect("f32 parameters")
    }

    fn gradient(
        &mut self,
        worker: usize,
        step: u64,
        params: &[f32],
    ) -> byzsgd_core::Result<(Vec<f32>, f32)> {
        self.worker_gradient(worker, step, params)
            .map_err(|e| byzsgd_core::Error::Source(e.to_string()))
    }

    fn evaluate(&mut self, params: &[f32]) -> byzsgd_core::Result<Option<f64>> {
        let Some(eval) = self.evaluate.clone() else {
            return Ok(None);
        };
        let model = self
            .model_at(params)
            .map_err(|e| byzsgd_core::Error::Source(e.to_string()))?;
        Ok(Some(eval(&model)))
    }

    fn fork(&self) -> Box<dyn GradientSource> {
        Box::new(self.clone())
    }
}

impl<M, I> ModuleSource<M, I>
where
    M: Trainable + 'static,
    I: Send + Sync + 'static,
{
    fn worker_gradient(&self, worker: usize, step: u64, params: &[f32]) -> Result<(Vec<f32>, f32)> {
        let plan = self.plans.get(worker).ok_or_else(|| {
            BurnError::Config(format!(
                "worker {worker}: the data is shared among {} workers",
                self.plans.len()
            ))
        })?;
        let flip = self.flip.get(worker).and_then(|f| f.as_ref());
        let mut items = Vec::with_capacity(plan.batch_size());
        for i in plan.batch_at(step) {
            let item = self
                .train
                .get(i)
                .map_err(|e| BurnError::Data(format!("item {i} of the training set: {e}")))?;
            items.push(match flip {
                Some(f) => f(item),
                None => item,
            });
        }
        let batch = self.batcher.batch(items, &self.device);
        let flat = vector_on(params.to_vec(), &self.device);
        let (g, loss) = gradient(&self.model, flat, &batch)?;
        Ok((host_vector(g)?, loss))
    }
}
