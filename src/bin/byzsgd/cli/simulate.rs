//! `byzsgd simulate`: a whole ByzSGD cluster in this process (the main job). Options come from
//! the defaults, then `--config FILE.toml` (the keys of [`ClusterSpec`], snake_case, with its
//! `[timers]` and `[network]` tables, plus `dataset`, `data_dir`, `model`, `device`), then the
//! flags, layered by [`ClusterSpec::layer`]. It shows progress, prints a short summary, and
//! writes `metrics.csv`, `summary.json`, PNG plots and the trained model (`model.bpk`) to `--out`
//! (default: a new timestamped folder under `runs/`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use burn::module::Module as _;
use byzsgd_burn::parse_device;
use byzsgd_burn::{check_shape, test_accuracy, train_classifier};
use byzsgd_core::node::{CSV_HEADER, ClusterSpec, StepRow, model_hash};
use byzsgd_core::sim::Report;
use byzsgd_datasets::{Normalization, Split, synthetic};
use serde::Serialize;

use super::datasets::{load, normalization};
use super::plot::{Chart, Series, line_chart};
use super::progress::progress_bar;

/// Arguments of `byzsgd simulate`; every one overrides the same key of `--config`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimulateArgs {
    /// A TOML file with any of the keys below (snake_case) and a network table.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Parameter-server replicas (n_ps).
    #[arg(long)]
    pub servers: Option<usize>,
    /// Byzantine replicas (f_ps); the last ones.
    #[arg(long)]
    pub byz_servers: Option<usize>,
    /// Workers (n_w).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Byzantine workers (f_w); the first ones.
    #[arg(long)]
    pub byz_workers: Option<usize>,
    /// Worker attack: none, alie, alie:Z, alie:auto, foe, foe:EPS, foe:auto, signflip, reverse,
    /// reverse:SCALE, gaussian, gaussian:SIGMA, labelflip, mimic, nan, inf, equivocate,
    /// equivocate:SCALE (a different vector to each server), flood (out-of-window steps).
    #[arg(long)]
    pub attack: Option<String>,
    /// Server attack: none, equivocate, equivocate:SCALE, random, reverse, stale, stale:AGE,
    /// silent, forge, forge:AHEAD (models under a later step), maxstep (under step 2^64 - 1),
    /// future, future:AHEAD (unsolicited models for the next steps), flood (models under the
    /// next 64 steps and 2^64 - 1), nan, wrongdim.
    #[arg(long)]
    pub server_attack: Option<String>,
    /// Byzantine workers estimate from their own data instead of seeing honest gradients.
    #[arg(long)]
    pub attack_own_data: bool,
    /// Gradient aggregation rule (see `byzsgd rules`).
    #[arg(long)]
    pub gar: Option<String>,
    /// Pre-aggregation in front of the rule: nnm, or none (the rule alone, as the paper runs
    /// MDA). Default: nnm in async mode, none otherwise.
    #[arg(long)]
    pub pre: Option<String>,
    /// async, sync or vanilla.
    #[arg(long)]
    pub mode: Option<String>,
    /// Gather period T (0: no gathers); default max(1, floor(1/(3 L lr))).
    #[arg(long)]
    pub gather_period: Option<u64>,
    /// Sync mode: the Lipschitz filter accepts k up to this multiple of its percentile (default
    /// 2; 1: the paper's filter).
    #[arg(long)]
    pub lipschitz_slack: Option<f64>,
    /// synthetic (default, generated: 1x28x28), synthetic-cifar (generated: 3x32x32 colour, for
    /// cifarnet and resnet18), fashion-mnist, mnist, cifar10.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory of the data set's files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// mlp (default), cnn, cifarnet, resnet18.
    #[arg(long)]
    pub model: Option<String>,
    /// Steps (server updates).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Minibatch per worker.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate: 0.1, step:LR:GAMMA:EVERY, inverse:LR:DECAY.
    #[arg(long)]
    pub lr: Option<String>,
    /// Worker momentum (0 disables).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// How the training set is split over workers: iid, or dirichlet:ALPHA (non-IID).
    #[arg(long)]
    pub shard: Option<String>,
    /// Seed of everything (0 to 2^63 - 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Test accuracy every this many steps.
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Gradient threads (0: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// flex (default), ndarray, wgpu.
    #[arg(long)]
    pub device: Option<String>,
    /// Output folder (default: a new folder under runs/, named by the time).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What the CLI adds to [`ClusterSpec`]: the data, the model, the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    /// The data set.
    pub dataset: String,
    /// Its directory.
    pub data_dir: Option<PathBuf>,
    /// The model.
    pub model: String,
    /// The device.
    pub device: String,
    /// The run.
    #[serde(flatten)]
    pub sim: ClusterSpec,
}

/// The defaults of `byzsgd simulate` with no flags: a minute on 2 cores of synthetic data and
/// `mlp`, with ALIE workers and an equivocating server.
pub fn default_options() -> Options {
    Options {
        dataset: "synthetic".into(),
        data_dir: None,
        model: "mlp".into(),
        device: "flex".into(),
        sim: ClusterSpec {
            steps: 4000,
            batch: 32,
            eval_every: 200,
            ..ClusterSpec::default()
        },
    }
}

/// Defaults, then the TOML file, then the flags.
pub fn resolve(args: &SimulateArgs) -> Result<Options> {
    Ok(resolve_with_net(args)?.0)
}

/// [`resolve`], and the cluster file's `[net]` table if it has one (what `byzsgd launch` and the
/// nodes read; `simulate` ignores it).
pub fn resolve_with_net(args: &SimulateArgs) -> Result<(Options, Option<toml::Value>)> {
    let mut o = default_options();
    let mut net = None;
    if let Some(path) = &args.config {
        let mut table = read_table(path)?;
        net = table.remove("net");
        apply_table(&mut o, table, path)?;
    }
    o.sim.layer(flags(args)?).context("in the flags")?;
    if let Some(v) = &args.dataset {
        o.dataset = v.clone();
    }
    if args.data_dir.is_some() {
        o.data_dir = args.data_dir.clone();
    }
    if let Some(v) = &args.model {
        o.model = v.clone();
    }
    if let Some(v) = &args.device {
        o.device = v.clone();
    }
    Ok((o, net))
}

/// A TOML file as a table.
pub fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Layers the keys of `table` (read from `path`) over `o`.
pub fn apply_table(o: &mut Options, mut table: toml::Table, path: &Path) -> Result<()> {
    let mut take = |key: &str| -> Result<Option<String>> {
        match table.remove(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => bail!("{}: {key} must be a string, got {v}", path.display()),
        }
    };
    if let Some(v) = take("dataset")? {
        o.dataset = v;
    }
    if let Some(v) = take("data_dir")? {
        o.data_dir = Some(v.into());
    }
    if let Some(v) = take("model")? {
        o.model = v;
    }
    if let Some(v) = take("device")? {
        o.device = v;
    }
    // The rest is the cluster's, checked key by key (unknown keys are errors).
    o.sim
        .layer(table)
        .with_context(|| format!("in {}", path.display()))
}

/// The flags that were given, as the configuration keys they override.
fn flags(args: &SimulateArgs) -> Result<toml::Table> {
    if let Some(seed) = args.seed
        && i64::try_from(seed).is_err()
    {
        bail!("--seed {seed}: seeds go up to 2^63 - 1 (a TOML integer)");
    }
    let mut t = toml::Table::new();
    macro_rules! flag {
        ($($f:ident),*) => {$(
            if let Some(v) = &args.$f {
                let v = toml::Value::try_from(v)
                    .with_context(|| format!("--{}", stringify!($f).replace('_', "-")))?;
                t.insert(stringify!($f).into(), v);
            }
        )*};
    }
    flag!(
        servers,
        byz_servers,
        workers,
        byz_workers,
        attack,
        server_attack,
        gar,
        pre,
        mode,
        shard
    );
    flag!(
        gather_period,
        lipschitz_slack,
        steps,
        batch,
        lr,
        momentum,
        seed,
        eval_every,
        threads
    );
    if args.attack_own_data {
        t.insert("attack_own_data".into(), true.into());
    }
    Ok(t)
}

/// The data of `o`, with its normalisation.
pub fn data(o: &Options) -> Result<(Split, Normalization)> {
    load_split(&o.dataset, o.data_dir.as_ref(), o.sim.seed)
}

/// Data set `name` (from `data_dir`, or generated from `seed`: synthetic and synthetic-cifar have
/// 20,000 training and 2,000 test images), with its normalisation.
pub fn load_split(
    name: &str,
    data_dir: Option<&PathBuf>,
    seed: u64,
) -> Result<(Split, Normalization)> {
    let split = match name {
        "synthetic" => synthetic::generate(20_000, 2_000, seed),
        "synthetic-cifar" => synthetic::generate_cifar(20_000, 2_000, seed),
        name => load(name, data_dir)?,
    };
    Ok((split, normalization(name)))
}

/// The trained model in a run's folder: Burn's record format (burnpack).
pub const MODEL_FILE: &str = "model.bpk";

#[derive(Serialize)]
struct Summary<'a> {
    final_test_accuracy: Option<f64>,
    model_hash: String,
    model_file: &'static str,
    model_file_hash: String,
    model_file_test_accuracy: Option<f64>,
    steps: u64,
    wall_seconds: f64,
    steps_per_second: f64,
    simulated_time: f64,
    mean_diameter: f64,
    rejected: usize,
    skipped_updates: usize,
    /// What honest nodes recorded, by kind (rejections by filter, refusals by reason, stalls,
    /// catch-ups).
    counts: &'a std::collections::BTreeMap<String, usize>,
    diverged_at_step: Option<u64>,
    gather_period: u64,
    config: &'a Options,
}

/// Runs `byzsgd simulate`.
pub fn run(args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    let mut o = resolve(args)?;
    let cluster = o.sim.resolve()?;
    o.sim.gather_period = Some(cluster.shape().gather_period);
    o.sim.pre = cluster.spec().pre.clone();
    let device = parse_device(&o.device)?;
    let (split, norm) = data(&o)?;
    check_shape(&o.model, &split)?;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            PathBuf::from("runs").join(format!("{secs}-{}-{}", o.sim.mode, o.sim.attack))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let c = cluster.shape();
    writeln!(
        out,
        "simulating {} on {} ({} train / {} test): {} mode, {} servers ({} Byzantine, {}), \
         {} workers ({} Byzantine, {}), {} + {}, T = {}, {} steps of batch {}",
        o.model,
        o.dataset,
        split.train.len(),
        split.test.len(),
        o.sim.mode,
        c.n_ps,
        c.f_ps,
        o.sim.server_attack,
        c.n_w,
        c.f_w,
        o.sim.attack,
        match o.sim.pre.as_deref() {
            None | Some("none") => o.sim.gar.clone(),
            Some(pre) => format!("{pre} + {}", o.sim.gar),
        },
        o.sim.contraction,
        c.gather_period,
        o.sim.steps,
        o.sim.batch
    )?;
    let mut csv = std::io::BufWriter::new(
        std::fs::File::create(dir.join("metrics.csv")).context("creating metrics.csv")?,
    );
    writeln!(csv, "{CSV_HEADER}")?;
    let bar = progress_bar(o.sim.steps, args.quiet);
    let mut last_acc = None;
    let mut csv_err = None;
    let trained = train_classifier(
        &o.model,
        &split,
        &norm,
        &device,
        o.sim.clone(),
        &mut |row| {
            if let Err(e) = writeln!(csv, "{}", row.csv()) {
                csv_err.get_or_insert(e);
            }
            if row.test_accuracy.is_some() {
                last_acc = row.test_accuracy;
            }
            bar.tick(row, last_acc);
        },
    )?;
    let report = trained.report;
    bar.finish();
    if let Some(e) = csv_err {
        return Err(e).context("writing metrics.csv");
    }
    csv.flush()?;
    // The model file first: the summary describes it.
    let model_accuracy = (!split.test.is_empty())
        .then(|| test_accuracy(&trained.model, &split.test, &norm, &device));
    let model_file = dir.join(MODEL_FILE);
    trained
        .model
        .save_file(&model_file)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", model_file.display()))?;
    write_summary(&dir, &o, &report, model_accuracy)?;
    plots(&dir, &report.rows)?;
    if let Some(step) = report.diverged {
        writeln!(
            out,
            "training diverged at step {step} (non-finite honest models or gradients): the rule did not hold"
        )?;
    }
    let acc = report
        .final_test_accuracy
        .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a));
    writeln!(
        out,
        "done: {} steps in {:.1} s ({:.2} steps/s); final test accuracy {acc}; honest-replica \
         diameter {:.3e} at the end; {} replies rejected; model hash {:016x}\nwrote {} (the \
         trained model: {MODEL_FILE}, the median of the replicas' final models)",
        report.rows.len(),
        report.wall_seconds,
        report.rows.len() as f64 / report.wall_seconds.max(1e-9),
        report.rows.last().map_or(0.0, |r| r.diameter),
        report.rejected,
        report.model_hash,
        dir.display()
    )?;
    // What the honest nodes had to recover from, when anything.
    let notable: Vec<String> = ["stalled", "caught up", "gather skipped", "skipped"]
        .iter()
        .filter_map(|k| report.counts.get(*k).map(|n| format!("{k} {n}")))
        .collect();
    if !notable.is_empty() {
        writeln!(
            out,
            "recovered: {} (summary.json counts every kind)",
            notable.join(", ")
        )?;
    }
    Ok(())
}

fn write_summary(
    dir: &Path,
    o: &Options,
    r: &Report,
    model_file_test_accuracy: Option<f64>,
) -> Result<()> {
    let n = r.rows.len().max(1) as f64;
    let summary = Summary {
        final_test_accuracy: r.final_test_accuracy,
        model_hash: format!("{:016x}", r.model_hash),
        model_file: MODEL_FILE,
        model_file_hash: format!("{:016x}", model_hash(&r.final_model)),
        model_file_test_accuracy,
        steps: r.rows.len() as u64,
        wall_seconds: r.wall_seconds,
        steps_per_second: r.rows.len() as f64 / r.wall_seconds.max(1e-9),
        simulated_time: r.simulated_time,
        mean_diameter: r.rows.iter().map(|r| r.diameter).sum::<f64>() / n,
        rejected: r.rejected,
        skipped_updates: r.skipped,
        counts: &r.counts,
        diverged_at_step: r.diverged,
        gather_period: r.cluster.gather_period,
        config: o,
    };
    let text = serde_json::to_string_pretty(&summary)?;
    std::fs::write(dir.join("summary.json"), text + "\n").context("writing summary.json")
}

/// `accuracy.{svg,png}` and `diameter.{svg,png}` of `rows` (steps whose diameter is NaN, not
/// measured, are left out; the diameter on a log axis when it spans decades).
pub fn plots(dir: &Path, rows: &[StepRow]) -> Result<()> {
    let acc: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.test_accuracy.map(|a| (r.step as f64, 100.0 * a)))
        .collect();
    line_chart(
        &dir.join("accuracy"),
        Chart::new("Test accuracy", "step", "test accuracy (%)").legend_low(),
        &[Series {
            name: "first honest server".into(),
            points: acc,
        }],
    )?;
    let after_update: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.diameter.is_finite())
        .map(|r| (r.step as f64, r.diameter))
        .collect();
    let after_gather: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.diameter_after_gather.map(|d| (r.step as f64, d)))
        .collect();
    let series = [
        Series {
            name: "after update".into(),
            points: after_update,
        },
        Series {
            name: "after gather".into(),
            points: after_gather,
        },
    ];
    line_chart(
        &dir.join("diameter"),
        Chart::new("Honest replicas' diameter", "step", "largest L2 distance")
            .log_if_decades(&series),
        &series,
    )
}
