//! Where a node's training computation comes from: a [`GradientSource`] gives worker `w`'s
//! gradient of step `t` at given parameters, and its loss. `byzsgd-burn` implements it for any
//! Burn module and its data; a runtime (the simulator, a networked worker) only calls it, so the
//! protocol never sees Burn. A computation depends only on its inputs, so a run is the same
//! whatever thread computes what.

use crate::Result;

/// A gradient (and test-accuracy) source: a model, its data and each worker's share of it.
pub trait GradientSource: Send {
    /// The number of parameters.
    fn dim(&self) -> usize;

    /// The initial parameters every correct server starts from.
    fn initial_params(&self) -> Vec<f32>;

    /// Worker `worker`'s gradient and loss on its minibatch of `step`, at `params`. The source
    /// knows each worker's data, including a Byzantine worker's poisoned data (label flipping).
    fn gradient(&mut self, worker: usize, step: u64, params: &[f32]) -> Result<(Vec<f32>, f32)>;

    /// Test accuracy at `params`, if there is a test set.
    fn evaluate(&mut self, params: &[f32]) -> Result<Option<f64>>;

    /// An independent copy for another thread.
    fn fork(&self) -> Box<dyn GradientSource>;
}
