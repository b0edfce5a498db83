//! `cnn`: a small convnet for 28x28 inputs: conv3x3x32 → pool → conv3x3x64 → pool → 128 → 10.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::host;

/// A small convnet for 1x28x28 images (421,642 parameters).
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    /// A freshly initialised model on `device`.
    pub fn new(device: &Device) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(1, 32),
            conv2: conv(32, 64),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(64 * 7 * 7, 128).init(device),
            fc2: LinearConfig::new(128, 10).init(device),
        }
    }

    /// `[batch, 1, 28, 28]` images to `[batch, 10]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = images.dims();
        let pool = |x| host::max_pool2d(&self.pool, x);
        let x = pool(relu(host::conv2d(&self.conv1, images)));
        let x = pool(relu(host::conv2d(&self.conv2, x)));
        self.fc2
            .forward(relu(self.fc1.forward(x.reshape([batch, 64 * 7 * 7]))))
    }
}
