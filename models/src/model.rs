//! Any of the models, chosen by name at run time.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use thiserror::Error;

use crate::{CifarNet, Cnn, Mlp, ResNet18};

/// This crate's errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// No model of that name.
    #[error("unknown model {name:?}; known models: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
}

/// One model's name, input shape and exact parameter count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// Name on the command line.
    pub name: &'static str,
    /// Input shape `[channels, height, width]`.
    pub input: [usize; 3],
    /// Trainable parameters (Burn's `num_params()` also counts batch-norm running statistics:
    /// see [`Model::trainable_params`]).
    pub params: usize,
    /// Multiply-adds of one sample's forward pass (convolutions and linears), for FLOP rates.
    pub forward_macs: usize,
    /// One line.
    pub summary: &'static str,
}

/// Every model, in the order `byzsgd models` lists them.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "mlp",
        input: [1, 28, 28],
        params: 79_510,
        // 784x100 + 100x10
        forward_macs: 79_400,
        summary: "784-100-10 MLP, the paper's MNIST model",
    },
    ModelInfo {
        name: "cnn",
        input: [1, 28, 28],
        params: 421_642,
        // 28x28x32 outputs x 9, 14x14x64 x 288, 3136x128, 128x10
        forward_macs: 225_792 + 3_612_672 + 401_408 + 1_280,
        summary: "two 3x3 convs and two linears, for 28x28",
    },
    ModelInfo {
        name: "cifarnet",
        input: [3, 32, 32],
        params: 1_756_426,
        // 32x32x64 outputs x 75, 16x16x64 x 1600, 4096x384, 384x192, 192x10
        forward_macs: 4_915_200 + 26_214_400 + 1_572_864 + 73_728 + 1_920,
        summary: "the paper's CIFAR-10 model",
    },
    ModelInfo {
        name: "resnet18",
        input: [3, 32, 32],
        params: 11_173_962,
        // Every 3x3 and 1x1 convolution (outputs x kernel x input channels) plus the classifier.
        forward_macs: 555_422_720,
        summary: "ResNet-18, CIFAR variant (GPU runs)",
    },
];

/// Any of the models.
#[derive(Module, Debug)]
pub enum Model {
    /// [`Mlp`].
    Mlp(Mlp),
    /// [`Cnn`].
    Cnn(Cnn),
    /// [`CifarNet`].
    CifarNet(CifarNet),
    /// [`ResNet18`].
    ResNet18(ResNet18),
}

impl Model {
    /// A freshly initialised model `name` on `device` (seed the device first for a reproducible
    /// initialisation: `device.seed(s)`).
    pub fn new(name: &str, device: &Device) -> Result<Self, ModelError> {
        Ok(match name {
            "mlp" => Model::Mlp(Mlp::new(device)),
            "cnn" => Model::Cnn(Cnn::new(device)),
            "cifarnet" => Model::CifarNet(CifarNet::new(device)),
            "resnet18" => Model::ResNet18(ResNet18::new(device)),
            _ => return Err(Self::unknown(name)),
        })
    }

    /// The entry of model `name`.
    pub fn info(name: &str) -> Result<&'static ModelInfo, ModelError> {
        MODELS
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Self::unknown(name))
    }

    fn unknown(name: &str) -> ModelError {
        ModelError::Unknown {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        }
    }

    /// Trainable parameters: `num_params()` less batch-norm running statistics.
    pub fn trainable_params(&self) -> usize {
        let running = match self {
            Model::ResNet18(m) => m.running_stat_values(),
            _ => 0,
        };
        self.num_params() - running
    }

    /// `[batch, c, h, w]` images to `[batch, 10]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward(images),
            Model::Cnn(m) => m.forward(images),
            Model::CifarNet(m) => m.forward(images),
            Model::ResNet18(m) => m.forward(images),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_are_exact() {
        let device = Device::flex();
        for info in MODELS {
            let model = Model::new(info.name, &device).unwrap();
            assert_eq!(model.trainable_params(), info.params, "{}", info.name);
        }
    }

    #[test]
    fn resnet_running_statistics_are_two_per_batch_norm_channel() {
        let model = ResNet18::new(&Device::flex());
        // 64 (stem) + 4x64 + 4x128 + 128 + 4x256 + 256 + 4x512 + 512 channels, mean and variance.
        assert_eq!(model.running_stat_values(), 2 * 4800);
    }

    #[test]
    fn forward_maps_inputs_to_ten_logits() {
        let device = Device::flex();
        for info in MODELS.iter().filter(|m| m.name != "resnet18") {
            let model = Model::new(info.name, &device).unwrap();
            let [c, h, w] = info.input;
            let out = model.forward(Tensor::zeros([2, c, h, w], &device));
            assert_eq!(out.dims(), [2, 10], "{}", info.name);
        }
    }

    #[test]
    fn unknown_model_names_the_known_ones() {
        let err = Model::new("vgg", &Device::flex()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown model \"vgg\"; known models: mlp, cnn, cifarnet, resnet18"
        );
    }
}
