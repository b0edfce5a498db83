//! The models of `byzsgd-models` as [`Trainable`] classifiers: cross-entropy on labelled images.

use burn::data::dataloader::batcher::Batcher;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor};
use byzsgd_datasets::{ImageBatcher, ImageItem, ImageSet, Normalization, batch_from_indices};
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

/// Batches image items as [`LabelledImages`], for [`Model`] (or any classifier of yours with
/// that batch type) under the [`ByzSgd`](crate::ByzSgd) builder.
#[derive(Debug, Clone)]
pub struct ClassifierBatcher(pub ImageBatcher);

impl Batcher<ImageItem, LabelledImages> for ClassifierBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> LabelledImages {
        let b = self.0.batch(items, device);
        LabelledImages {
            images: b.images,
            targets: b.targets,
        }
    }
}

/// Label flipping for `classes` classes: `y ↦ classes − 1 − y` (`9 − y` for ten).
pub fn flip_label(classes: usize) -> impl Fn(ImageItem) -> ImageItem + Send + Sync + 'static {
    move |mut item| {
        item.label = classes - 1 - item.label.min(classes - 1);
        item
    }
}

/// Accuracy of `model` on all of `test`, in batches of 1,000 on `device`.
pub fn test_accuracy(model: &Model, test: &ImageSet, norm: &Normalization, device: &Device) -> f64 {
    if test.is_empty() {
        return 0.0;
    }
    let all: Vec<usize> = (0..test.len()).collect();
    let mut correct = 0.0;
    for chunk in all.chunks(1000) {
        let b = batch_from_indices(test, chunk, norm, device);
        let batch = LabelledImages {
            images: b.images,
            targets: b.targets,
        };
        correct += accuracy(model, &batch) * chunk.len() as f64;
    }
    correct / test.len() as f64
}
