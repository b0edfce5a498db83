//! `byzsgd report DIR`: merges the outputs of a networked cluster's nodes (`DIR/nodes/<id>/`,
//! with the cluster file `DIR/cluster.toml`) into what `simulate` writes: `metrics.csv`,
//! `summary.json`, the plots and the trained model (`model.bpk`, the coordinate-wise median of
//! the replicas' final models). `byzsgd launch` ends with it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module as _;
use byzsgd_core::node::{CSV_HEADER, GradientSource, model_hash};
use byzsgd_net::journal::merge;
use serde::Serialize;

use super::node::setup;
use super::simulate::{MODEL_FILE, Options, plots};

/// Arguments of `byzsgd report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A cluster's output folder (holding cluster.toml and nodes/).
    pub dir: PathBuf,
    /// The cluster file, if not DIR/cluster.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Serialize)]
struct Summary<'a> {
    final_test_accuracy: Option<f64>,
    model_hash: Option<String>,
    model_file: &'static str,
    model_file_hash: Option<String>,
    model_file_test_accuracy: Option<f64>,
    steps: u64,
    wall_seconds: f64,
    steps_per_second: f64,
    mean_diameter: Option<f64>,
    rejected: usize,
    counts: &'a BTreeMap<String, usize>,
    finished: &'a BTreeMap<String, bool>,
    /// Per node, its peak resident memory in MB (Linux).
    peak_rss_mb: BTreeMap<String, f64>,
    /// Per node, its CPU time per step in ms, every thread (Linux; over the steps `bench
    /// loopback` times: from the third to the one before the last).
    cpu_ms_per_step: BTreeMap<String, f64>,
    gather_period: u64,
    config: &'a Options,
}

/// What a report found.
#[derive(Debug, Clone)]
pub struct Reported {
    /// Steps the first honest server finished.
    pub steps: u64,
    /// Its final model's test accuracy.
    pub final_test_accuracy: Option<f64>,
    /// Its final model's hash.
    pub model_hash: Option<u64>,
    /// Seconds from the first start to the last finish.
    pub wall_seconds: f64,
    /// Honest nodes' counts.
    pub counts: BTreeMap<String, usize>,
}

/// Runs `byzsgd report`.
pub fn run(args: &ReportArgs, out: &mut impl Write) -> Result<()> {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| args.dir.join("cluster.toml"));
    let r = write_report(&config, &args.dir)?;
    print_summary(&r, &args.dir, out)
}

/// Prints a report's one-line summary.
pub fn print_summary(r: &Reported, dir: &Path, out: &mut impl Write) -> Result<()> {
    let acc = r
        .final_test_accuracy
        .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a));
    writeln!(
        out,
        "done: {} steps in {:.1} s ({:.2} steps/s); final test accuracy {acc}; model hash {}\nwrote {} (the trained model: {MODEL_FILE}, the median of the replicas' final models)",
        r.steps,
        r.wall_seconds,
        r.steps as f64 / r.wall_seconds.max(1e-9),
        r.model_hash.map_or("n/a".into(), |h| format!("{h:016x}")),
        dir.display()
    )?;
    let notable: Vec<String> = r
        .counts
        .iter()
        .filter(|(k, _)| !k.starts_with("refused") && !k.starts_with("rejected"))
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !notable.is_empty() {
        writeln!(out, "recovered: {}", notable.join(", "))?;
    }
    Ok(())
}

/// Merges the nodes' outputs of the cluster of `config` into `dir`.
pub fn write_report(config: &Path, dir: &Path) -> Result<Reported> {
    let s = setup(config)?;
    let c = s.cluster.shape();
    let mut source = s.source.clone();
    let dim = source.dim();
    let m = merge(&s.net.out, c.n_ps, c.n_w, dim)
        .with_context(|| format!("merging {}", s.net.out.display()))?;
    if m.rows.is_empty() {
        bail!(
            "no server finished a step (see the nodes' logs under {})",
            dir.join("logs").display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for r in &m.rows {
        let line = r.csv();
        // A diameter not measured at this step is empty, not NaN.
        let line = if r.diameter.is_nan() {
            let mut f: Vec<&str> = line.split(',').collect();
            f[4] = "";
            f.join(",")
        } else {
            line
        };
        csv.push_str(&line);
        csv.push('\n');
    }
    std::fs::write(dir.join("metrics.csv"), csv).context("writing metrics.csv")?;
    let (final_test_accuracy, hash) = match &m.first_honest {
        Some((_, p)) => (source.evaluate(p)?, Some(model_hash(p))),
        None => (None, None),
    };
    let mut model_file_test_accuracy = None;
    let mut model_file_hash = None;
    if let Some(model) = &m.final_model {
        model_file_test_accuracy = source.evaluate(model)?;
        model_file_hash = Some(format!("{:016x}", model_hash(model)));
        let path = dir.join(MODEL_FILE);
        source
            .model_at(model)?
            .save_file(&path)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    let steps = m.rows.last().map_or(0, |r| r.step + 1);
    let measured: Vec<f64> = m
        .rows
        .iter()
        .map(|r| r.diameter)
        .filter(|d| d.is_finite())
        .collect();
    let rejected = m.rejected;
    let summary = Summary {
        final_test_accuracy,
        model_hash: hash.map(|h| format!("{h:016x}")),
        model_file: MODEL_FILE,
        model_file_hash,
        model_file_test_accuracy,
        steps,
        wall_seconds: m.wall_seconds,
        steps_per_second: steps as f64 / m.wall_seconds.max(1e-9),
        mean_diameter: (!measured.is_empty())
            .then(|| measured.iter().sum::<f64>() / measured.len() as f64),
        rejected,
        counts: &m.counts,
        finished: &m.finished,
        peak_rss_mb: m
            .peak_rss
            .iter()
            .map(|(k, b)| (k.clone(), *b as f64 / 1e6))
            .collect(),
        cpu_ms_per_step: m
            .cpu_per_step
            .iter()
            .map(|(k, s)| (k.clone(), s * 1e3))
            .collect(),
        gather_period: c.gather_period,
        config: &s.opts,
    };
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )
    .context("writing summary.json")?;
    plots(dir, &m.rows)?;
    Ok(Reported {
        steps,
        final_test_accuracy,
        model_hash: hash,
        wall_seconds: m.wall_seconds,
        counts: m.counts,
    })
}
