//! `cifarnet`: the paper's CIFAR-10 model (1,756,426 parameters): conv5x5x64 (padding 2) →
//! maxpool 3x3 stride 2 (padding 1) → conv5x5x64 → same pool → fc 4096→384 → 384→192 → 192→10.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::host;

/// CifarNet, for 3x32x32 images.
#[derive(Module, Debug)]
pub struct CifarNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl CifarNet {
    /// A freshly initialised model on `device`.
    pub fn new(device: &Device) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device)
        };
        Self {
            conv1: conv(3, 64),
            conv2: conv(64, 64),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            fc1: LinearConfig::new(4096, 384).init(device),
            fc2: LinearConfig::new(384, 192).init(device),
            fc3: LinearConfig::new(192, 10).init(device),
        }
    }

    /// `[batch, 3, 32, 32]` images to `[batch, 10]` logits. Both convolutions run on the host
    /// kernels on a Flex device ([`crate::host::conv2d`], the same function as the built-in
    /// layer; 0.31x and 0.70x its time there, forward and backward, BENCHMARKS.md) and as the
    /// built-in layer elsewhere.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = images.dims();
        let pool = |x| host::max_pool2d(&self.pool, x);
        let x = pool(relu(host::conv2d(&self.conv1, images)));
        let x = pool(relu(host::conv2d(&self.conv2, x)));
        let x = relu(self.fc1.forward(x.reshape([batch, 4096])));
        self.fc3.forward(relu(self.fc2.forward(x)))
    }
}
