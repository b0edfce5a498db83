//! The models of `byzsgd-models` as [`Trainable`] classifiers: cross-entropy on labelled images.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};
use byzsgd_models::Model;

use crate::grad::Trainable;

/// A batch of images and their class labels.
#[derive(Debug, Clone)]
pub struct LabelledImages {
    /// `[batch, channels, height, width]`.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

impl Trainable for Model {
    type Batch = LabelledImages;

    fn loss(&self, batch: &LabelledImages) -> Tensor<1> {
        let logits = self.forward(batch.images.clone());
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, batch.targets.clone())
    }
}

/// Fraction of `batch` that `model` classifies correctly.
pub fn accuracy(model: &Model, batch: &LabelledImages) -> f64 {
    let [n] = batch.targets.dims();
    let predicted = model
        .forward(batch.images.clone())
        .argmax(1)
        .squeeze_dim::<1>(1);
    let correct: i64 = predicted
        .equal(batch.targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    correct as f64 / n as f64
}
