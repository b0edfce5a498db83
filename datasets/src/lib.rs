//! # byzsgd-datasets
//!
//! Data for byzsgd experiments, with no download needed for the default:
//!
//! - [`synthetic`]: a seeded, learnable 28x28 grayscale set of 10 classes, generated in memory;
//! - Fashion-MNIST and MNIST from their IDX files, plain or gzipped ([`load_fashion_mnist`],
//!   [`load_fashion_mnist_default`] reads where Debian's `dataset-fashion-mnist` installs it,
//!   [`load_mnist`]);
//! - CIFAR-10 from its official binary files ([`load_cifar10`]).
//!
//! Images stay `u8` in an [`ImageSet`]; a [`Normalization`] turns them into `f32` when a batch
//! is built. Indices are split over workers IID ([`shard_iid`]) or with Dirichlet label skew
//! ([`shard_dirichlet`]), and a [`BatchPlan`] fixes every batch of every epoch from a seed.
//! [`batch_from_indices`] builds a Burn [`ImageBatch`] directly; [`ImageSet`] is also a Burn
//! `Dataset<ImageItem>` and [`ImageBatcher`] a Burn `Batcher`, for Burn's data loaders.
//!
//! ```
//! use burn::tensor::Device;
//! use byzsgd_datasets::{BatchPlan, Normalization, batch_from_indices, shard_iid, synthetic};
//!
//! let split = synthetic::generate(1000, 200, 7);
//! let shards = shard_iid(split.train.len(), 4, 7).unwrap();
//! let plan = BatchPlan::new(shards[0].clone(), 32, 7).unwrap();
//! let norm = Normalization::from_data(&split.train);
//! let batch = batch_from_indices(&split.train, &plan.batch(0, 0), &norm, &Device::default());
//! assert_eq!(batch.images.dims(), [32, 1, 28, 28]);
//! ```

pub mod augment;
pub mod batch_plan;
pub mod burn_data;
pub mod cifar10;
mod error;
pub mod export;
pub mod idx;
pub mod image_set;
pub mod mnist;
pub mod normalization;
pub mod shard;
pub mod synthetic;

pub use augment::{CropFlip, random_crop_flip};
pub use batch_plan::{BatchPlan, EpochOrder};
pub use burn_data::{
    ImageBatch, ImageBatcher, ImageItem, augmented_batch_from_indices, batch_from_indices,
    normalized_pixels,
};
pub use cifar10::{load_cifar10, load_cifar10_file};
pub use error::{DatasetError, Result};
pub use export::{write_cifar10_dir, write_idx_dir};
pub use image_set::{ImageSet, Split};
pub use mnist::{FASHION_MNIST_DIR, load_fashion_mnist, load_fashion_mnist_default, load_mnist};
pub use normalization::Normalization;
pub use shard::{shard_dirichlet, shard_histograms, shard_iid};
pub use synthetic::SyntheticConfig;
