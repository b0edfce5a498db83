//! `resnet18`: the CIFAR variant of ResNet-18 (3x3 stem, no stem pooling; 11,173,962
//! parameters), for GPU runs.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// A 1x1 convolution and batch norm matching a block's shortcut to its output shape.
#[derive(Module, Debug)]
struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Two 3x3 convolutions with batch norm and a residual connection.
#[derive(Module, Debug)]
struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample {
            conv: conv(c_in, c_out, 1, stride, device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        Self {
            conv1: conv(c_in, c_out, 3, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv(c_out, c_out, 3, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(self.conv1.forward(x)));
        relu(self.bn2.forward(self.conv2.forward(y)) + shortcut)
    }
}

/// ResNet-18 for 3x32x32 images.
#[derive(Module, Debug)]
pub struct ResNet18 {
    stem: Conv2d,
    bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet18 {
    /// A freshly initialised model on `device`.
    pub fn new(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (c_out, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
            blocks.push(BasicBlock::new(c_in, c_out, stride, device));
            blocks.push(BasicBlock::new(c_out, c_out, 1, device));
            c_in = c_out;
        }
        Self {
            stem: conv(3, 64, 3, 1, device),
            bn: BatchNormConfig::new(64).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(512, 10).init(device),
        }
    }

    /// Values held in batch-norm running statistics (mean and variance per channel). Burn
    /// visits them as float parameters, so they count in `num_params()` and appear in flat views
    /// (with zero gradient); they are not trained.
    pub fn running_stat_values(&self) -> usize {
        let bn = |b: &BatchNorm| 2 * b.gamma.lazy_shape().num_elements();
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| bn(&b.bn1) + bn(&b.bn2) + b.downsample.as_ref().map_or(0, |d| bn(&d.bn)))
            .sum();
        bn(&self.bn) + blocks
    }

    /// `[batch, 3, 32, 32]` images to `[batch, 10]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = images.dims();
        let mut x = relu(self.bn.forward(self.stem.forward(images)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.fc.forward(self.pool.forward(x).reshape([batch, 512]))
    }
}
