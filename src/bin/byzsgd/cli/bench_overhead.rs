//! `byzsgd bench throughput` and `byzsgd bench convergence`: what ByzSGD costs over vanilla SGD
//! in the simulator, as the paper measures it (ALGORITHMS.md, Reference figures).
//!
//! - Throughput: wall time per step of ByzSGD (`n_ps` replicas) against vanilla (one trusted
//!   server), same model, batch and workers, in both variants. The gradient work is the same; the
//!   difference is the medians, the aggregations and the extra updates. Byzantine slots follow the
//!   protocol (attack `none`) so that attacks' own costs (an equivocating server draws a random
//!   vector per recipient) are not counted. Each run also reports the protocol's own cost per
//!   step (the event loop's time not waiting for gradients), what a cluster whose nodes each
//!   have their own cores would pay on top of the gradient time.
//! - Convergence: steps until the test accuracy first reaches a target, ByzSGD (both modes by
//!   default) against vanilla, over seeds 1..=N: mean, standard deviation and range.
//!
//! Both take `simulate`'s rule options ([`RuleArgs`]: `--gar`, `--pre`, `--momentum`,
//! `--gather-period`, `--lipschitz-slack`), so a lever is measured by the same command with one
//! flag more.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use byzsgd_burn::parse_device;
use byzsgd_burn::train_classifier;
use byzsgd_core::node::{ClusterSpec, StepRow};
use byzsgd_core::sim::Report;
use byzsgd_datasets::{ImageSet, Normalization, Split};
use byzsgd_models::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::datasets::{load, normalization};
use super::stats::{median, spread};

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
    /// ByzSGD's rule options.
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// The options of ByzSGD's runs that `simulate` also takes: what the benchmarks compare.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RuleArgs {
    /// Gradient aggregation rule of the ByzSGD runs (default: mda).
    #[arg(long)]
    pub gar: Option<String>,
    /// Pre-aggregation in front of it: nnm, or none (MDA alone, the paper's rule; default: nnm
    /// in async mode, none in sync).
    #[arg(long)]
    pub pre: Option<String>,
    /// Worker momentum of every run, vanilla's too (default 0.95).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Gather period T of the ByzSGD runs (0: none; default from the learning rate).
    #[arg(long)]
    pub gather_period: Option<u64>,
    /// Lipschitz filter slack of the sync runs (default 2; 1: the paper's filter).
    #[arg(long)]
    pub lipschitz_slack: Option<f64>,
}

impl RuleArgs {
    /// `spec` with these options applied; the ByzSGD-only ones only where `spec` is not vanilla.
    pub fn apply(&self, mut spec: ClusterSpec) -> ClusterSpec {
        if let Some(m) = self.momentum {
            spec.momentum = m;
        }
        if spec.mode != "vanilla" {
            if let Some(g) = &self.gar {
                spec.gar = g.clone();
            }
            if self.pre.is_some() {
                spec.pre = self.pre.clone();
            }
            if self.gather_period.is_some() {
                spec.gather_period = self.gather_period;
            }
            if let Some(s) = self.lipschitz_slack {
                spec.lipschitz_slack = s;
            }
        }
        spec
    }

    /// How the ByzSGD runs differ from the defaults, for a report's title.
    pub fn describe(&self) -> String {
        let gar = self.gar.as_deref().unwrap_or("mda");
        let mut v = vec![match self.pre.as_deref() {
            None => format!("{gar} (async: nnm + {gar}, the default)"),
            Some("none") => gar.to_string(),
            Some(p) => format!("{p} + {gar}"),
        }];
        if let Some(m) = self.momentum {
            v.push(format!("momentum {m}"));
        }
        if let Some(t) = self.gather_period {
            v.push(format!("T = {t}"));
        }
        if let Some(s) = self.lipschitz_slack {
            v.push(format!("Lipschitz slack {s}"));
        }
        v.join(", ")
    }
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
    /// Give up after this many steps (reported as this + 1).
    #[arg(long, default_value_t = 600)]
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
    /// Seeds (1..=N) of each run.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// The ByzSGD variants, comma-separated.
    #[arg(
        long,
        alias = "mode",
        value_delimiter = ',',
        default_value = "async,sync"
    )]
    pub modes: Vec<String>,
    /// ByzSGD's rule options.
    #[command(flatten)]
    pub rule: RuleArgs,
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
pub fn random_images(model: &str, n: usize, seed: u64) -> Result<Split> {
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

/// The three clusters [`time_modes`] compares, by name.
pub const MODES: [&str; 3] = ["vanilla", "async", "sync"];

/// The cluster a timing of `mode` runs: vanilla (one trusted server), or ByzSGD in `async` or
/// `sync` mode ([`byzsgd`]).
pub fn cluster_of(mode: &str, servers: usize, workers: usize) -> Result<ClusterSpec> {
    match mode {
        "vanilla" => Ok(vanilla(workers)),
        "async" | "sync" => Ok(byzsgd(mode, servers, workers)),
        other => bail!("unknown mode {other:?}: vanilla, async or sync"),
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Wall seconds per step, warm-up and the last step excluded.
    pub step: f64,
    /// Seconds per step the event loop spent not waiting for gradients: the protocol's own
    /// work on the critical path (aggregations, medians, updates, validation, metrics; and the
    /// one final evaluation), what a cluster whose nodes each have their own cores would pay
    /// on top of the gradient time.
    pub protocol: f64,
    /// Simulated time per step of the simulator's network model, in which every node has its
    /// own machine and a gradient takes 1 unit (plus up to 0.2 of jitter; messages 0.05 to
    /// 0.15): what the protocol's rounds cost a real cluster, whatever this machine's cores do.
    pub modelled: f64,
}

impl Timing {
    /// The timing of a finished run of `steps` steps: wall seconds per step between the 3rd
    /// step and the one before the last (warm-up and the final evaluation excluded), the
    /// loop's own time per step over the whole run, and the modelled cluster's simulated time
    /// per completed step.
    pub fn of(report: &Report, steps: u64) -> Result<Self> {
        let (rows, n) = (&report.rows, report.rows.len());
        if n < 5 {
            bail!("the run ended after {n} of {steps} steps");
        }
        Ok(Self {
            step: (rows[n - 2].wall_seconds - rows[1].wall_seconds) / (n - 3) as f64,
            protocol: (report.wall_seconds - report.waiting_seconds) / steps as f64,
            modelled: report.simulated_time / n as f64,
        })
    }
}

/// Medians over runs of [`Timing`].
pub struct Summary {
    /// Wall milliseconds per step.
    pub ms: f64,
    /// The same, as `median [min-max]`.
    pub range: String,
    /// The loop's own milliseconds per step.
    pub protocol_ms: f64,
    /// The modelled cluster's time units per step.
    pub modelled: f64,
}

/// The medians of `runs`, with the wall time's range.
pub fn summary(runs: &[Timing]) -> Summary {
    let steps: Vec<f64> = runs.iter().map(|t| 1e3 * t.step).collect();
    let (_, _, lo, hi) = spread(&steps);
    let ms = median(steps);
    Summary {
        ms,
        range: format!("{ms:.1} [{lo:.1}-{hi:.1}]"),
        protocol_ms: median(runs.iter().map(|t| 1e3 * t.protocol).collect()),
        modelled: median(runs.iter().map(|t| t.modelled).collect()),
    }
}

/// Vanilla, async and sync ByzSGD ([`MODES`], in that order), `repeats` runs of each with seeds
/// 1.., interleaved so that drift in the machine's speed hits all three alike; ByzSGD's runs
/// with `rule`'s options. `log` hears a line per run.
#[allow(clippy::too_many_arguments)]
pub fn time_modes(
    model: &str,
    data: &Split,
    norm: &Normalization,
    device: &burn::tensor::Device,
    (batch, workers, servers): (usize, usize, usize),
    (steps, repeats, threads): (u64, usize, usize),
    rule: &RuleArgs,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Vec<Timing>>> {
    if steps < 5 || repeats == 0 {
        bail!("throughput needs at least 5 steps and 1 repeat");
    }
    let modes = MODES
        .iter()
        .map(|m| cluster_of(m, servers, workers))
        .collect::<Result<Vec<_>>>()?;
    let mut times = vec![Vec::new(); modes.len()];
    for r in 0..repeats {
        for (i, cfg) in modes.iter().enumerate() {
            let cfg = rule.apply(ClusterSpec {
                steps,
                batch,
                eval_every: 0,
                threads,
                seed: r as u64 + 1,
                ..cfg.clone()
            });
            let report = train_classifier(model, data, norm, device, cfg, &mut |_| {})?.report;
            let t = Timing::of(&report, steps)?;
            log(&format!(
                "run {}/{repeats} {}: {:.1} ms/step, of which the protocol {:.1} ms ({:.0}% of the wall time waiting for gradients); {} replies rejected {:?}",
                r + 1,
                MODES[i],
                1e3 * t.step,
                1e3 * t.protocol,
                100.0 * report.waiting_seconds / report.wall_seconds,
                report.rejected,
                report.counts
            ));
            times[i].push(t);
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
        &a.rule,
        &mut |line| eprintln!("{line}"),
    )?;
    let rows: Vec<Summary> = times.iter().map(|t| summary(t)).collect();
    writeln!(
        out,
        "{} batch {} x {} workers, {} replicas ({}) on {}: ms per step over {} seeds \
         (median [min-max]); protocol = the event loop's own work per step, not waiting for \
         gradients; modelled = time units per step of a cluster whose every node has its own \
         machine (the simulator's default network model: a gradient takes 1 unit)",
        a.model,
        a.batch,
        a.workers,
        a.servers,
        a.rule.describe(),
        a.device,
        a.repeats
    )?;
    writeln!(
        out,
        "{:<8} {:>22} {:>9} {:>14} {:>9} {:>11}",
        "mode", "ms/step", "overhead", "protocol ms", "modelled", "modelled %"
    )?;
    let (base, modelled_base) = (rows[0].ms, rows[0].modelled);
    for (name, r) in MODES.iter().zip(&rows) {
        writeln!(
            out,
            "{name:<8} {:>22} {:>8.1}% {:>14.1} {:>9.3} {:>10.1}%",
            r.range,
            100.0 * (r.ms / base - 1.0),
            r.protocol_ms,
            r.modelled,
            100.0 * (r.modelled / modelled_base - 1.0)
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
    if a.seeds == 0 || a.modes.is_empty() {
        bail!("--seeds must be at least 1 and --modes name at least one mode");
    }
    let data = load(&a.dataset, a.data_dir.as_ref())?;
    let norm = normalization(&a.dataset);
    let device = parse_device("flex")?;
    let mut runs = vec![("vanilla".to_string(), a.rule.apply(vanilla(7)))];
    for mode in &a.modes {
        if !matches!(mode.as_str(), "async" | "sync") {
            bail!("--modes {mode}: async or sync");
        }
        let mut byz = a.rule.apply(byzsgd(mode, 5, 7));
        byz.attack = a.attack.clone();
        byz.server_attack = a.server_attack.clone();
        byz.resolve()?;
        runs.push((mode.clone(), byz));
    }
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
                "seed {seed} {name}: {} steps to {:.0}%",
                s.map_or("not reached in".into(), |s| s.to_string()),
                100.0 * a.target
            );
            found[i].push(s.unwrap_or(a.max_steps + 1) as f64);
        }
    }
    writeln!(
        out,
        "{} on {}, batch {} x 7 workers, ByzSGD: 5 replicas, {}; attacks {} / {}: steps to {:.0}% \
         test accuracy over seeds 1-{} ({} = not reached)",
        a.model,
        a.dataset,
        a.batch,
        a.rule.describe(),
        a.attack,
        a.server_attack,
        100.0 * a.target,
        a.seeds,
        a.max_steps + 1
    )?;
    writeln!(
        out,
        "{:<8} {:>7} {:>6} {:>11} {:>9}  per seed",
        "run", "mean", "sd", "min-max", "overhead"
    )?;
    let base = spread(&found[0]).0;
    for ((name, _), v) in runs.iter().zip(&found) {
        let (mean, sd, lo, hi) = spread(v);
        let overhead = if name == "vanilla" {
            String::new()
        } else {
            format!("{:+.1}%", 100.0 * (mean / base - 1.0))
        };
        let each: Vec<String> = v.iter().map(|s| format!("{s:.0}")).collect();
        writeln!(
            out,
            "{name:<8} {mean:>7.1} {sd:>6.1} {:>11} {overhead:>9}  {}",
            format!("{lo:.0}-{hi:.0}"),
            each.join(" ")
        )?;
    }
    Ok(())
}
