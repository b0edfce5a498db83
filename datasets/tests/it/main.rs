//! Integration tests of byzsgd-datasets, in one binary (one link on a small machine).

mod augment;
mod batch_plan;
mod burn_data;
mod cifar10;
mod fashion_mnist;
mod fixtures;
mod idx;
mod image_set;
mod normalization;
mod shard;
mod synthetic;
