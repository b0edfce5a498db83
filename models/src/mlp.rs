//! `mlp`: 784-100-10 with ReLU, the paper's MNIST model (79,510 parameters).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// 784-100-10 multi-layer perceptron.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    output: Linear,
}

impl Mlp {
    /// A freshly initialised model on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(784, 100).init(device),
            output: LinearConfig::new(100, 10).init(device),
        }
    }

    /// `[batch, 1, 28, 28]` images to `[batch, 10]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = images.dims();
        let x = images.reshape([batch, 784]);
        self.output.forward(relu(self.hidden.forward(x)))
    }
}
