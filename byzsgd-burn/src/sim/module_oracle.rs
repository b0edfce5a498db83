//! Gradients of any Burn module: an [`Oracle`] over a [`Trainable`] model, a Burn `Dataset` and
//! a `Batcher`, each worker drawing its minibatches from its own shard of the data.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use byzsgd_core::rows::{host_vector, vector_on};
use byzsgd_datasets::BatchPlan;

use super::oracle::Oracle;
use crate::{BurnError, Result, Trainable, flatten_params, gradient, load_params};

/// Label flipping for items of type `I` (`labelflip`: train on `classes − 1 − y`).
pub type Flip<I> = Arc<dyn Fn(I) -> I + Send + Sync>;
/// Test accuracy (or any score in `[0, 1]`) of a model with its parameters loaded.
pub type Evaluate<M> = Arc<dyn Fn(&M) -> f64 + Send + Sync>;

/// An [`Oracle`] over a Burn model `M` and items `I`.
pub struct ModuleOracle<M: Trainable, I> {
    pub(crate) model: M,
    pub(crate) device: Device,
    pub(crate) train: Arc<dyn Dataset<I>>,
    pub(crate) batcher: Arc<dyn Batcher<I, M::Batch>>,
    pub(crate) plans: Arc<Vec<BatchPlan>>,
    pub(crate) flip: Option<Flip<I>>,
    pub(crate) evaluate: Option<Evaluate<M>>,
    pub(crate) dim: usize,
}

impl<M: Trainable, I> Clone for ModuleOracle<M, I> {
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

impl<M: Trainable, I> ModuleOracle<M, I> {
    /// `model` with the flat `params` loaded, without autodiff.
    pub fn model_at(&self, params: &[f32]) -> Result<M> {
        let flat = vector_on(params.to_vec(), &self.device);
        Ok(load_params(self.model.clone(), flat)?.valid())
    }
}

impl<M, I> Oracle for ModuleOracle<M, I>
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
        flip: bool,
    ) -> Result<(Vec<f32>, f32)> {
        let plan = &self.plans[worker];
        let mut items = Vec::with_capacity(plan.batch_size());
        for i in plan.batch_at(step) {
            let item = self
                .train
                .get(i)
                .map_err(|e| BurnError::Data(format!("item {i} of the training set: {e}")))?;
            items.push(match (flip, &self.flip) {
                (true, Some(f)) => f(item),
                _ => item,
            });
        }
        let batch = self.batcher.batch(items, &self.device);
        let flat = vector_on(params.to_vec(), &self.device);
        let (g, loss) = gradient(&self.model, flat, &batch)?;
        Ok((host_vector(g)?, loss))
    }

    fn evaluate(&mut self, params: &[f32]) -> Result<Option<f64>> {
        let Some(eval) = self.evaluate.clone() else {
            return Ok(None);
        };
        Ok(Some(eval(&self.model_at(params)?)))
    }

    fn fork(&self) -> Box<dyn Oracle> {
        Box::new(self.clone())
    }
}
