//! `byzsgd bench layers`: CifarNet's convolutions and pooling as Burn's built-in layers against
//! the tensor-op versions of `byzsgd_models::layers` and the host kernels of
//! `byzsgd_models::host`, forward and backward, at the model's shapes (issue 14: keep whichever
//! wins).

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::{Device, Distribution, Tensor};
use byzsgd_burn::parse_device;
use byzsgd_models::host;
use byzsgd_models::layers::{conv2d_im2col, max_pool2d_slices};

use super::stats::median;

/// Arguments of `byzsgd bench layers`.
#[derive(Debug, Clone, clap::Args)]
pub struct LayersArgs {
    /// Minibatch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Device: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Timed repetitions (after 2 warm-up ones); the median is reported.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Only the layers whose name starts with this (conv1, conv2, pool1, pool2).
    #[arg(long)]
    pub only: Option<String>,
}

/// Milliseconds (median) of `pass` (a forward and a backward pass), after two warm-ups.
fn time(device: &Device, repeats: usize, mut pass: impl FnMut()) -> Result<f64> {
    let mut times = Vec::with_capacity(repeats);
    for r in 0..repeats + 2 {
        let start = Instant::now();
        pass();
        device.sync()?;
        if r >= 2 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(times))
}

/// A forward and backward pass of `layer` on `x`, the upstream gradient all ones.
fn pass(x: &Tensor<4>, layer: &dyn Fn(Tensor<4>) -> Tensor<4>) {
    let y = layer(x.clone());
    std::hint::black_box(y.sum().backward());
}

/// One line: the layer, the built-in layer's time, and each alternative's time with its ratio
/// to the built-in one.
fn row(out: &mut impl Write, name: &str, built_in: f64, others: &[f64]) -> Result<()> {
    write!(out, "{name:34} {built_in:>10.2}")?;
    for ms in others {
        write!(out, " {ms:>10.2} ({:>5.2})", ms / built_in)?;
    }
    writeln!(out)?;
    Ok(())
}

/// Times each of CifarNet's convolutions and poolings both ways and prints the ratio.
pub fn layers(args: &LayersArgs, out: &mut impl Write) -> Result<()> {
    if args.batch == 0 || args.repeats == 0 {
        bail!("--batch and --repeats must be at least 1");
    }
    let device = parse_device(&args.device)?.autodiff();
    device.seed(42);
    writeln!(
        out,
        "CifarNet's layers on {}, batch {}, forward + backward, ms (median of {})",
        args.device, args.batch, args.repeats
    )?;
    writeln!(
        out,
        "{:34} {:>10} {:>18} {:>18}",
        "layer", "built-in", "tensor-op (ratio)", "host (ratio)"
    )?;
    if !host::runs_on_host(&Tensor::<1>::zeros([1], &device)) {
        writeln!(
            out,
            "(the host kernels run on flex only: here their column is the built-in layer)"
        )?;
    }
    let x = |c: usize, side: usize| {
        Tensor::<4>::random(
            [args.batch, c, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad()
    };
    let wanted = |name: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| name.starts_with(o.as_str()))
    };
    for (name, c_in, side) in [
        ("conv1 5x5 3->64 on 32x32", 3, 32),
        ("conv2 5x5 64->64 on 16x16", 64, 16),
    ] {
        if !wanted(name) {
            continue;
        }
        let conv = Conv2dConfig::new([c_in, 64], [5, 5])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .init(&device);
        let input = x(c_in, side);
        let built_in = time(&device, args.repeats, || pass(&input, &|t| conv.forward(t)))?;
        let ops = time(&device, args.repeats, || {
            pass(&input, &|t| {
                conv2d_im2col(t, conv.weight.val(), conv.bias.as_ref().map(Param::val), 2)
            })
        })?;
        let host = time(&device, args.repeats, || {
            pass(&input, &|t| host::conv2d(&conv, t))
        })?;
        row(out, name, built_in, &[ops, host])?;
    }
    let pool = MaxPool2dConfig::new([3, 3])
        .with_strides([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init();
    for (name, side) in [
        ("pool1 3x3/2 64 on 32x32", 32),
        ("pool2 3x3/2 64 on 16x16", 16),
    ] {
        if !wanted(name) {
            continue;
        }
        let input = x(64, side);
        let built_in = time(&device, args.repeats, || pass(&input, &|t| pool.forward(t)))?;
        let ops = time(&device, args.repeats, || {
            pass(&input, &|t| max_pool2d_slices(t, 3, 2, 1))
        })?;
        let host = time(&device, args.repeats, || {
            pass(&input, &|t| host::max_pool2d(&pool, t))
        })?;
        row(out, name, built_in, &[ops, host])?;
    }
    Ok(())
}
