//! `byzsgd bench step` and `byzsgd bench flat`: what one training step of a model costs on a
//! device, and what flattening its parameters and gradients costs next to a memcpy.

use super::stats::median;
use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use byzsgd_burn::{
    LabelledImages, LrSchedule, ServerOptimizerConfig, flatten_params, gradient, load_params,
    parse_device,
};
use byzsgd_models::Model;

/// Arguments of `byzsgd bench step`.
#[derive(Debug, Clone, clap::Args)]
pub struct StepArgs {
    /// Model (see `byzsgd models`).
    #[arg(long, default_value = "cifarnet")]
    pub model: String,
    /// Minibatch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Device: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Timed steps (after 2 warm-up steps); the median is reported.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
}

/// Arguments of `byzsgd bench flat`.
#[derive(Debug, Clone, clap::Args)]
pub struct FlatArgs {
    /// Model (see `byzsgd models`).
    #[arg(long, default_value = "cifarnet")]
    pub model: String,
    /// Timed repetitions; the median is reported.
    #[arg(long, default_value_t = 21)]
    pub repeats: usize,
}

/// One training step as a worker and a server do it: load flat parameters, forward, backward,
/// flatten the gradient, apply SGD to the flat parameters.
pub fn step(args: &StepArgs, out: &mut impl Write) -> Result<()> {
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let info = Model::info(&args.model)?;
    let device = parse_device(&args.device)?.autodiff();
    device.seed(42);
    let model = Model::new(&args.model, &device)?;
    let [c, h, w] = info.input;
    let images = Tensor::<4>::random(
        [args.batch, c, h, w],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..args.batch as i64).map(|i| i % 10).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [args.batch]), &device);
    let batch = LabelledImages { images, targets };
    let mut sgd = ServerOptimizerConfig::new(LrSchedule::Constant(0.01)).init()?;
    let mut theta = flatten_params(&model);
    let mut times = Vec::with_capacity(args.steps);
    for t in 0..args.steps + 2 {
        let start = Instant::now();
        let (g, _) = gradient(&model, theta.clone(), &batch)?;
        let on = theta.device();
        theta = sgd.step(theta, g.to_device(&on), t)?;
        device.sync()?;
        if t >= 2 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let ms = median(times);
    // Training is ~3 forward passes' worth of multiply-adds, 2 FLOPs each.
    let gflop = 6.0 * info.forward_macs as f64 * args.batch as f64 / 1e9;
    writeln!(
        out,
        "step: {} on {}, batch {}: {ms:.2} ms per step (median of {}), {:.1} GFLOP/s ({gflop:.3} GFLOP per step)",
        args.model,
        args.device,
        args.batch,
        args.steps,
        gflop / (ms / 1e3)
    )?;
    Ok(())
}

/// Flattening parameters and loading them back, against a memcpy of the same bytes.
pub fn flat(args: &FlatArgs, out: &mut impl Write) -> Result<()> {
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let device = parse_device("flex")?;
    let model = Model::new(&args.model, &device)?;
    let flat = flatten_params(&model);
    let host: Vec<f32> = byzsgd_core::rows::host_vector(flat.clone())?;
    let time = |mut f: Box<dyn FnMut()>| {
        f();
        median(
            (0..args.repeats)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let memcpy = time(Box::new(|| {
        std::hint::black_box(host.clone());
    }));
    let m = &model;
    let flatten = time(Box::new(move || {
        std::hint::black_box(flatten_params(m));
    }));
    let mut holder = Some(Model::new(&args.model, &device)?);
    let load = time(Box::new(|| {
        let model = holder.take().expect("model");
        holder = Some(load_params(model, flat.clone()).expect("same length"));
    }));
    writeln!(
        out,
        "flat: {} ({} parameters, {:.1} MB)",
        args.model,
        host.len(),
        host.len() as f64 * 4.0 / 1e6
    )?;
    writeln!(out, "memcpy of the same bytes {memcpy:.3} ms")?;
    writeln!(
        out,
        "flatten_params           {flatten:.3} ms  ({:.2}x memcpy)",
        flatten / memcpy
    )?;
    writeln!(
        out,
        "load_params              {load:.3} ms  ({:.2}x memcpy)",
        load / memcpy
    )?;
    Ok(())
}
