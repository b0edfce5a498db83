//! # byzsgd-models
//!
//! The models of the ByzSGD paper and its reference code, as Burn modules, each with its exact
//! parameter count (tested):
//!
//! | name | input | parameters |
//! | --- | --- | --- |
//! | `mlp` | 1x28x28 | 79,510 (784-100-10, the paper's MNIST model) |
//! | `cnn` | 1x28x28 | 421,642 (two 3x3 convs, two linears) |
//! | `cifarnet` | 3x32x32 | 1,756,426 (the paper's CIFAR-10 model) |
//! | `resnet18` | 3x32x32 | 11,173,962 (CIFAR variant; for GPU runs) |
//!
//! Every model maps a `[batch, channels, height, width]` tensor to `[batch, 10]` logits.
//! [`Model`] holds any of them, chosen by name at run time.
//!
//! On the CPU (Burn's Flex backend), `cifarnet` and `cnn` run their convolutions and max pooling
//! on this crate's own kernels ([`host`]: an unfold and gemm per image, hand-written backward
//! passes), the same functions as Burn's layers to f32 rounding and 0.3-0.8x their time; on
//! any other device they are Burn's layers. [`layers`] keeps the tensor-op versions tried
//! before, for `byzsgd bench layers`.

mod cifarnet;
mod cnn;
pub mod host;
pub mod layers;
mod mlp;
mod model;
mod resnet;
#[cfg(test)]
mod testing;

pub use cifarnet::CifarNet;
pub use cnn::Cnn;
pub use mlp::Mlp;
pub use model::{MODELS, Model, ModelError, ModelInfo};
pub use resnet::ResNet18;
