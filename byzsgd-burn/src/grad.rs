//! A worker's gradient: load flat parameters into the model (on an autodiff device), run the
//! model's own loss on a batch, back-propagate, and flatten the gradient in declaration order.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::Result;
use crate::flat::{flatten_gradients, load_params};

/// A model byzsgd can train: any Burn module with a scalar loss on a batch of its choosing.
pub trait Trainable: Module + Clone {
    /// What one step's minibatch is.
    type Batch;

    /// The mean loss on `batch`, a `[1]` tensor on the model's device.
    fn loss(&self, batch: &Self::Batch) -> Tensor<1>;
}

/// The loss and flat gradient of `model` at parameters `flat`, on `batch`.
///
/// `model` must live on an autodiff device (`Device::flex().autodiff()`); `flat` may live on any
/// device and is moved to the model's. The gradient comes back on the model's inner (non-autodiff)
/// device, in the order of [`flatten_params`](crate::flatten_params).
pub fn gradient<M: Trainable>(
    model: &M,
    flat: Tensor<1>,
    batch: &M::Batch,
) -> Result<(Tensor<1>, f32)> {
    let model = load_params(model.clone(), flat)?;
    let loss = model.loss(batch);
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok((flatten_gradients(&model, &grads), value))
}
