//! Tensor-op versions of the layers that dominate a CifarNet step on the CPU (issue 14), tried
//! against Burn's built-in ones: the same outputs and gradients (the tests below), and timed by
//! `byzsgd bench layers`. A model uses one only where the benchmark shows it winning
//! (BENCHMARKS.md, "CifarNet's layers").
//!
//! - [`conv2d_im2col`]: a stride-1 convolution as an unfold (the `kh * kw` shifted views of the
//!   padded input stacked into columns) and one batched matrix multiply, so the forward pass
//!   and both gradients run on the gemm path instead of flex's convolution kernels.
//! - [`max_pool2d_slices`]: max pooling as two separable passes of strided slices and
//!   element-wise maxima, without the index tensor the built-in layer keeps for its backward.

use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, s};

/// A stride-1, dilation-1 convolution of `x` (`[batch, c_in, h, w]`) with `weight`
/// (`[c_out, c_in, kh, kw]`) and `bias` (`[c_out]`), zero-padded by `pad` on every side:
/// `[batch, c_out, h + 2 pad - kh + 1, w + 2 pad - kw + 1]`, as Burn's `conv2d` computes it.
pub fn conv2d_im2col(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    pad: usize,
) -> Tensor<4> {
    let [batch, c_in, h, w] = x.dims();
    let [c_out, w_in, kh, kw] = weight.dims();
    assert!(
        w_in == c_in && kh >= 1 && kw >= 1 && kh <= h + 2 * pad && kw <= w + 2 * pad,
        "conv2d_im2col: a [{c_out}, {w_in}, {kh}, {kw}] kernel on [{batch}, {c_in}, {h}, {w}] \
         padded by {pad}"
    );
    let (oh, ow) = (h + 2 * pad + 1 - kh, w + 2 * pad + 1 - kw);
    // Channels first, so that each tap's view stacks into one [kh * kw * c_in, batch * oh * ow]
    // column matrix without a further copy, and the whole batch is one matrix multiply.
    let x = x.swap_dims(0, 1);
    let x = if pad > 0 {
        x.pad((pad, pad, pad, pad), PadMode::Constant(0.0))
    } else {
        x
    };
    let taps: Vec<Tensor<4>> = (0..kh)
        .flat_map(|i| (0..kw).map(move |j| (i, j)))
        .map(|(i, j)| x.clone().slice(s![.., .., i..i + oh, j..j + ow]))
        .collect();
    // Row (i, j, c) of the column matrix; the weight's view in the same order.
    let columns: Tensor<5> = Tensor::stack(taps, 0);
    let columns = columns.reshape([kh * kw * c_in, batch * oh * ow]);
    let weight = weight
        .permute([0, 2, 3, 1])
        .reshape([c_out, kh * kw * c_in]);
    let out = weight
        .matmul(columns)
        .reshape([c_out, batch, oh, ow])
        .swap_dims(0, 1);
    match bias {
        Some(b) => out + b.reshape([1, c_out, 1, 1]),
        None => out,
    }
}

/// Max pooling of `x` (`[batch, c, h, w]`) over `k x k` windows with stride `stride`, padded by
/// `pad` on every side with -inf (padding never wins), as Burn's `max_pool2d` computes it.
pub fn max_pool2d_slices(x: Tensor<4>, k: usize, stride: usize, pad: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (w + 2 * pad - k) / stride + 1,
    );
    let x = if pad > 0 {
        x.pad((pad, pad, pad, pad), PadMode::Constant(f32::NEG_INFINITY))
    } else {
        x
    };
    let span = |n: usize| (n - 1) * stride + 1;
    let rows = (0..k)
        .map(|i| x.clone().slice(s![.., .., i..i + span(oh);stride, ..]))
        .reduce(Tensor::max_pair)
        .expect("k >= 1");
    (0..k)
        .map(|j| rows.clone().slice(s![.., .., .., j..j + span(ow);stride]))
        .reduce(Tensor::max_pair)
        .expect("k >= 1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::close;
    use burn::module::Param;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, Distribution};

    /// At CifarNet's two shapes (3 -> 64 channels on 32x32, 64 -> 64 on 16x16, 5x5, padding 2):
    /// the output and the gradients of the input and the weight equal the built-in layer's.
    /// Checked to fail: with the taps stacked in (j, i) order instead of (i, j), the output
    /// differs at the first element.
    #[test]
    fn im2col_convolution_matches_the_built_in_layer() {
        let device = Device::flex().autodiff();
        device.seed(7);
        for (c_in, side) in [(3, 32), (64, 16)] {
            let conv = Conv2dConfig::new([c_in, 64], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(&device);
            let x = Tensor::<4>::random(
                [2, c_in, side, side],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            let built_in = conv.forward(x.clone());
            let ours = conv2d_im2col(
                x.clone(),
                conv.weight.val(),
                conv.bias.as_ref().map(Param::val),
                2,
            );
            close(built_in.clone().inner(), ours.clone().inner(), "output");
            // The same random upstream gradient through both.
            let up = Tensor::<4>::random(built_in.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g1 = (built_in * up.clone()).sum().backward();
            let g2 = (ours * up).sum().backward();
            close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap(), "input gradient");
            let w = |g| conv.weight.grad(g).unwrap();
            close(w(&g1), w(&g2), "weight gradient");
            let b = |g| {
                conv.bias
                    .as_ref()
                    .unwrap()
                    .grad(g)
                    .unwrap()
                    .reshape([1, 1, 1, 64])
            };
            close(b(&g1), b(&g2), "bias gradient");
        }
    }

    /// CifarNet's pooling (3x3, stride 2, padding 1) and the small CNN's (2x2, stride 2): the
    /// output and the input gradient equal the built-in layer's. Checked to fail: with the
    /// window's first row left out, element 16 differs.
    #[test]
    fn sliced_max_pooling_matches_the_built_in_layer() {
        let device = Device::flex().autodiff();
        device.seed(11);
        for (k, stride, pad, side) in [(3, 2, 1, 32), (3, 2, 1, 16), (2, 2, 0, 28)] {
            let pool = MaxPool2dConfig::new([k, k])
                .with_strides([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init();
            let x =
                Tensor::<4>::random([2, 8, side, side], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
            let built_in = pool.forward(x.clone());
            let ours = max_pool2d_slices(x.clone(), k, stride, pad);
            close(built_in.clone().inner(), ours.clone().inner(), "output");
            let up = Tensor::<4>::random(built_in.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g1 = (built_in * up.clone()).sum().backward();
            let g2 = (ours * up).sum().backward();
            close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap(), "input gradient");
        }
    }
}
