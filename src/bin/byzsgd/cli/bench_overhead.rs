//! `byzsgd bench throughput` and `byzsgd bench convergence`: what ByzSGD costs over vanilla SGD
//! in the simulator, as the paper measures it (ALGORITHMS.md, Reference figures).
//!
//! - Throughput: wall time per step of ByzSGD (`n_ps` replicas) against vanilla (one trusted
//!   server), same model, batch and workers, in both variants. The gradient work is the same; the
//!   difference is the medians, the aggregations and the extra updates. Byzantine slots follow the
//!   protocol (attack `none`) so that attacks' own costs (an equivocating server draws a random
//!   vector per recipient) are not counted.
//! - Convergence: steps until the test accuracy first reaches a target, ByzSGD against vanilla.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use byzsgd_burn::parse_device;
use byzsgd_burn::train_classifier;
use byzsgd_core::node::{ClusterSpec, StepRow};
use byzsgd_datasets::{ImageSet, Normalization, Split};
use byzsgd_models::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::datasets::{load, normalization};
use super::stats::median;

/// Arguments of `byzsgd bench throughput`.
#[derive(Debug, Clone, clap::Args)]
pub struct ThroughputArgs {
    /// The model (random images of its input shape feed it).
    #[arg(long, default_value = "cifarnet")]
    pub model: String,
    /// Minibatch per worker.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Workers.
    #[arg(long, default_value_t = 7)]
    pub workers: usize,
    /// ByzSGD replicas (vanilla has one).
    #[arg(long, default_value_t = 5)]
    pub servers: usize,
    /// Steps per run (the first 2 and the last are not timed).
    #[arg(long, default_value_t = 20)]
    pub steps: u64,
    /// Runs of each mode, interleaved; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// flex, ndarray, wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Gradient threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Arguments of `byzsgd bench convergence`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConvergenceArgs {
    /// The data set.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Its directory, where it has no default.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The model.
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Test accuracy to reach.
    #[arg(long, default_value_t = 0.8)]
    pub target: f64,
    /// Give up after this many steps.
    #[arg(long, default_value_t = 2000)]
    pub max_steps: u64,
    /// Test accuracy every this many steps.
    #[arg(long, default_value_t = 10)]
    pub eval_every: u64,
    /// Minibatch per worker.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// The Byzantine workers' attack in the ByzSGD run (`none`: they follow the protocol).
    #[arg(long, default_value = "none")]
    pub attack: String,
    /// The Byzantine server's attack in the ByzSGD run.
    #[arg(long, default_value = "none")]
    pub server_attack: String,
    /// Seeds to average over.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// The ByzSGD variant: async or sync.
    #[arg(long, default_value = "async")]
    pub mode: String,
}

/// ByzSGD's cluster in `mode` with the largest `f` the bounds allow, every Byzantine slot
/// following the protocol.
pub fn byzsgd(mode: &str, servers: usize, workers: usize) -> ClusterSpec {
    let f_w = (workers - 1) / 3;
    let f_ps = servers.saturating_sub(2) / 3;
    ClusterSpec {
        mode: mode.into(),
        servers,
        byz_servers: f_ps,
        workers,
        byz_workers: f_w,
        attack: "none".into(),
        server_attack: "none".into(),
        ..ClusterSpec::default()
    }
}

/// Vanilla SGD: one trusted server, no Byzantine worker.
pub fn vanilla(workers: usize) -> ClusterSpec {
    ClusterSpec {
        mode: "vanilla".into(),
        servers: 1,
        byz_servers: 0,
        workers,
        byz_workers: 0,
        ..ClusterSpec::default()
    }
}

/// `n` random images shaped for `model`, ten classes.
fn random_images(model: &str, n: usize, seed: u64) -> Result<Split> {
    let shape = Model::info(model)?.input;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = shape.iter().product::<usize>();
    let set = |n: usize, rng: &mut ChaCha8Rng| -> Result<ImageSet> {
        let pixels = (0..n * len).map(|_| rng.random()).collect();
        let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
        Ok(ImageSet::new(pixels, labels, shape, 10)?)
    };
    Ok(Split {
        train: set(n, &mut rng)?,
        test: set(10, &mut rng)?,
    })
}

/// Seconds per step between the 3rd step and the one before the last (warm-up and the final
/// evaluation excluded).
fn per_step(rows: &[StepRow]) -> f64 {
    let n = rows.len();
    (rows[n - 2].wall_seconds - rows[1].wall_seconds) / (n - 3) as f64
}

/// The three clusters [`time_modes`] compares, by name.
pub const MODES: [&str; 3] = ["vanilla", "async", "sync"];

/// Seconds per step of vanilla, async and sync ByzSGD ([`MODES`], in that order), `repeats` runs
/// of each, interleaved so that drift in the machine's speed hits all three alike; `log` hears a
/// line per run.
#[allow(clippy::too_many_arguments)]
pub fn time_modes(
    model: &str,
    data: &Split,
    norm: &Normalization,
    device: &burn::tensor::Device,
    (batch, workers, servers): (usize, usize, usize),
    (steps, repeats, threads): (u64, usize, usize),
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Vec<f64>>> {
    if steps < 5 || repeats == 0 {
        bail!("throughput needs at least 5 steps and 1 repeat");
    }
    let modes = [
        vanilla(workers),
        byzsgd("async", servers, workers),
        byzsgd("sync", servers, workers),
    ];
    let mut times = vec![Vec::new(); modes.len()];
    for r in 0..repeats {
        for (i, cfg) in modes.iter().enumerate() {
            let cfg = ClusterSpec {
                steps,
                batch,
                eval_every: 0,
                threads,
                seed: r as u64 + 1,
                ..cfg.clone()
            };
            let report = train_classifier(model, data, norm, device, cfg, &mut |_| {})?.report;
            let s = per_step(&report.rows);
            log(&format!(
                "run {}/{repeats} {}: {:.1} ms/step, {:.0}% of the wall time waiting for gradients",
                r + 1,
                MODES[i],
                1e3 * s,
                100.0 * report.waiting_seconds / report.wall_seconds
            ));
            times[i].push(s);
        }
    }
    Ok(times)
}

/// Runs `byzsgd bench throughput`.
pub fn throughput(a: &ThroughputArgs, out: &mut impl Write) -> Result<()> {
    if a.steps < 5 || a.repeats == 0 {
        bail!("--steps must be at least 5 and --repeats at least 1");
    }
    let device = parse_device(&a.device)?;
    let data = random_images(&a.model, a.workers * a.batch * 4, 1)?;
    let norm = Normalization::from_data(&data.train);
    let times = time_modes(
        &a.model,
        &data,
        &norm,
        &device,
        (a.batch, a.workers, a.servers),
        (a.steps, a.repeats, a.threads),
        &mut |line| eprintln!("{line}"),
    )?;
    let base = median(times[0].clone());
    writeln!(
        out,
        "{} batch {} x {} workers, {} on {}: wall time per step (median of {})",
        a.model, a.batch, a.workers, a.servers, a.device, a.repeats
    )?;
    writeln!(out, "{:<10} {:>10} {:>9}", "mode", "ms/step", "overhead")?;
    for (name, t) in MODES.iter().zip(times) {
        let t = median(t);
        writeln!(
            out,
            "{name:<10} {:>10.1} {:>8.1}%",
            1e3 * t,
            100.0 * (t / base - 1.0)
        )?;
    }
    Ok(())
}

/// The first step (1-based) whose test accuracy reaches `target`.
pub fn steps_to(rows: &[StepRow], target: f64) -> Option<u64> {
    rows.iter()
        .find(|r| r.test_accuracy.is_some_and(|a| a >= target))
        .map(|r| r.step + 1)
}

/// Runs `byzsgd bench convergence`.
pub fn convergence(a: &ConvergenceArgs, out: &mut impl Write) -> Result<()> {
    let data = load(&a.dataset, a.data_dir.as_ref())?;
    let norm = normalization(&a.dataset);
    let device = parse_device("flex")?;
    let mut byz = byzsgd(&a.mode, 5, 7);
    byz.attack = a.attack.clone();
    byz.server_attack = a.server_attack.clone();
    let runs = [("vanilla", vanilla(7)), (a.mode.as_str(), byz)];
    let mut found = vec![Vec::new(); runs.len()];
    for seed in 1..=a.seeds {
        for (i, (name, cfg)) in runs.iter().enumerate() {
            let cfg = ClusterSpec {
                steps: a.max_steps,
                batch: a.batch,
                eval_every: a.eval_every,
                seed,
                ..cfg.clone()
            };
            let report =
                train_classifier(&a.model, &data, &norm, &device, cfg, &mut |_| {})?.report;
            let s = steps_to(&report.rows, a.target);
            eprintln!(
                "seed {seed} {name}: {s:?} steps to {:.0}%",
                100.0 * a.target
            );
            found[i].push(s.unwrap_or(a.max_steps + 1) as f64);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (v, b) = (mean(&found[0]), mean(&found[1]));
    writeln!(
        out,
        "{} on {}, batch {} x 7 workers, ByzSGD {}: steps to {:.0}% test accuracy (mean of {} \
         seeds; {} means not reached)",
        a.model,
        a.dataset,
        a.batch,
        a.mode,
        100.0 * a.target,
        a.seeds,
        a.max_steps + 1
    )?;
    writeln!(
        out,
        "vanilla  {v:.0}\nbyzsgd   {b:.0}\noverhead {:.1}%",
        100.0 * (b / v - 1.0)
    )?;
    Ok(())
}
