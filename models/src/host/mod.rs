//! Layers computed by this crate's own kernels on the CPU, where Burn's are slow (issue 14).
//! [`conv2d`] and [`max_pool2d`] are drop-ins for a Burn layer's `forward`: on a Flex device and
//! `f32` they run [`conv`]'s unfold and matrix multiplies and [`pool`]'s direct max pooling,
//! forward and backward; on any other device or dtype, or for a layer configuration the kernels
//! do not cover (a strided or grouped convolution, dilation, uneven padding), they call the
//! layer itself, so a model that uses them runs everywhere.
//!
//! The kernels reach Burn through a backend extension ([`HostOps`]): Flex runs them on its
//! tensors' memory, and `Autodiff` over Flex records one node whose backward pass calls them.

pub mod conv;
mod ext;
pub mod pool;

/// `n` zeros, written to memory. `vec![0.0; n]` gets a large block from `calloc` as fresh,
/// unwritten pages, so a gradient that is read before it is written (`dx[i] += g`) first maps
/// the shared zero page and then copies it on write, a page fault and a TLB flush sent to every
/// core per 4 KB (17% of a batch-128 CifarNet step's samples, in `perf`); writing the zeros
/// first takes one cheap fault per page.
fn zeros_written(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, 0.0);
    v
}

pub use ext::HostOps;

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

/// Whether `t` lives where the host kernels run: an `f32` tensor on a Flex device (with or
/// without autodiff).
pub fn runs_on_host<const D: usize>(t: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        use burn::backend::DispatchDevice;
        t.dtype() == burn::tensor::DType::F32
            && matches!(
                t.device().as_dispatch().clone().inner(),
                DispatchDevice::Flex(_)
            )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = t;
        false
    }
}

/// The padding a layer applies on every side, when it is the same on all four.
fn even_padding(padding: &PaddingConfig2d) -> Option<usize> {
    match *padding {
        PaddingConfig2d::Valid => Some(0),
        PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && left == bottom && bottom == right =>
        {
            Some(top)
        }
        _ => None,
    }
}

/// `layer.forward(x)`, on the host kernels where [`runs_on_host`] (for the input, the weight and
/// the bias) and the layer is one they compute (stride 1, dilation 1, one group, a bias, the same
/// zero padding on every side); otherwise the layer's own forward pass.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let pad = even_padding(&layer.padding);
    let plain = layer.stride == [1, 1] && layer.dilation == [1, 1] && layer.groups == 1;
    match (pad, &layer.bias) {
        (Some(pad), Some(bias))
            if plain
                && runs_on_host(&x)
                && runs_on_host(&layer.weight.val())
                && runs_on_host(&bias.val()) =>
        {
            let out = <Dispatch as HostOps>::host_conv2d(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                pad,
            );
            Tensor::from_dispatch(out)
        }
        _ => layer.forward(x),
    }
}

/// `layer.forward(x)`, on the host kernels where [`runs_on_host`] and the layer is one they
/// compute (square windows, equal strides, dilation 1, no ceil mode, the same padding on every
/// side and less than the window, a window that fits the padded input); otherwise the layer's
/// own forward pass.
pub fn max_pool2d(layer: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [k, k2] = layer.kernel_size;
    let [stride, stride2] = layer.stride;
    let plain = k == k2 && stride == stride2 && layer.dilation == [1, 1] && !layer.ceil_mode;
    let [_, _, h, w] = x.dims();
    match even_padding(&layer.padding) {
        Some(pad)
            if plain && pad < k && k <= h + 2 * pad && k <= w + 2 * pad && runs_on_host(&x) =>
        {
            let (out, _winners) =
                <Dispatch as HostOps>::host_max_pool2d(x.into_dispatch(), k, stride, pad);
            Tensor::from_dispatch(out)
        }
        _ => layer.forward(x),
    }
}

// The tests run the host path, so they need the Flex kernels compiled in.
#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::testing::close;
    use burn::module::Param;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    /// Through Burn, on an autodiff Flex device at CifarNet's two shapes and an odd one: the
    /// output and the gradients of the input, weight and bias equal the built-in layer's, and an
    /// input that needs no gradient still gives the weight its gradient. Checked to fail with
    /// the bias gradient registered for the weight, and with the weight's gradient computed
    /// only when the input's is (a `detach()`ed copy of a leaf stayed tracked, so the input
    /// here is a fresh untracked tensor).
    #[test]
    fn matches_the_built_in_layer_through_autodiff() {
        let device = Device::flex().autodiff();
        device.seed(3);
        for (batch, c_in, c_out, side, k, pad) in [
            (2, 3, 64, 32, 5, 2),
            (3, 64, 64, 16, 5, 2),
            (5, 2, 3, 7, 3, 1),
        ] {
            let layer = Conv2dConfig::new([c_in, c_out], [k, k])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(&device);
            let x = Tensor::<4>::random(
                [batch, c_in, side, side],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            assert!(
                runs_on_host(&x),
                "an f32 tensor on flex runs on the host kernels"
            );
            let built_in = layer.forward(x.clone());
            let ours = conv2d(&layer, x.clone());
            close(ours.clone().inner(), built_in.clone().inner(), "output");
            let up = Tensor::<4>::random(built_in.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g1 = (built_in * up.clone()).sum().backward();
            let g2 = (ours * up.clone()).sum().backward();
            close(x.grad(&g2).unwrap(), x.grad(&g1).unwrap(), "input gradient");
            let w = |g| layer.weight.grad(g).unwrap();
            close(w(&g2), w(&g1), "weight gradient");
            let b = |g| {
                layer
                    .bias
                    .as_ref()
                    .map(Param::val)
                    .unwrap()
                    .grad(g)
                    .unwrap()
                    .reshape([1, 1, 1, c_out])
            };
            close(b(&g2), b(&g1), "bias gradient");

            // An input without gradient (the images), whose backward skips the input's: the
            // weight's is the same.
            let images = Tensor::from_inner(x.clone().inner()); // no gradient required
            assert!(!images.is_require_grad());
            let g3 = (conv2d(&layer, images) * up).sum().backward();
            close(w(&g3), w(&g1), "weight gradient, input untracked");
        }
    }

    /// Through Burn, on an autodiff Flex device: CifarNet's pooling, the small CNN's, and an
    /// uneven one, on normal values and on values rounded to a coarse grid, whose ties the input
    /// gradient shows (the window's first maximum gets it): the output and the input gradient
    /// equal the built-in layer's. (Tied zeros after a ReLU would not show: ReLU's backward
    /// zeroes them.) Checked to fail: with the backward writing a winner's gradient instead of
    /// adding it (a value that wins two overlapping windows), and with ties going to the last
    /// maximum (`>=` in the forward pass), the input gradient differs.
    #[test]
    fn max_pooling_matches_the_built_in_layer_through_autodiff() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex().autodiff();
        device.seed(5);
        for (k, stride, pad, side) in [(3, 2, 1, 32), (3, 2, 1, 16), (2, 2, 0, 28), (3, 2, 1, 7)] {
            let pool = MaxPool2dConfig::new([k, k])
                .with_strides([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init();
            let normal =
                Tensor::<4>::random([2, 4, side, side], Distribution::Normal(0.0, 1.0), &device);
            let coarse = (normal.clone() * 2.0).round();
            for x in [normal, coarse] {
                let x = x.require_grad();
                let built_in = pool.forward(x.clone());
                let ours = max_pool2d(&pool, x.clone());
                close(ours.clone().inner(), built_in.clone().inner(), "output");
                let up =
                    Tensor::<4>::random(built_in.dims(), Distribution::Normal(0.0, 1.0), &device);
                let g1 = (built_in * up.clone()).sum().backward();
                let g2 = (ours * up).sum().backward();
                close(x.grad(&g2).unwrap(), x.grad(&g1).unwrap(), "input gradient");
            }
        }
    }
}
