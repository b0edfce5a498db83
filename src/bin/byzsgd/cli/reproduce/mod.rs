//! `byzsgd reproduce cifar10|fashion-mnist`: the paper's claims reproduced by one command and
//! reported as a reviewer reads them.
//!
//! Four parts, in order: convergence (accuracy over steps and time, vanilla against ByzSGD with
//! and without attacks, on byzsgd's defaults and, for async, also with the paper's rule, MDA
//! alone), throughput (updates per second), the robustness matrix (each rule under
//! each worker attack) and contraction (the honest replicas' diameter with and without gathers).
//! A part's CSV is written when it completes, and `OUT/reproduce.json` records its cost; a rerun
//! into the same folder with the same settings skips the parts already done (and refuses other
//! settings, naming what differs). `OUT/REPORT.md`, its plots and tables are made from
//! the CSVs, so they can be remade at any time. `--quick` shrinks steps, data and the matrix so
//! the whole reproduction runs in minutes on 2 cores (what CI runs, on generated CIFAR-format
//! data: `byzsgd datasets generate cifar10`).

mod parts;
mod plan;
mod report;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use byzsgd_burn::parse_device;
use byzsgd_datasets::Split;
use serde::{Deserialize, Serialize};

use super::datasets::{GENERATED_MARKER, load, normalization};
use parts::{Context, PartOutput};
pub use plan::Plan;

/// Arguments of `byzsgd reproduce`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReproduceArgs {
    /// cifar10 (cifarnet on the official binary files) or fashion-mnist (mlp or cnn on the IDX
    /// files of Debian's dataset-fashion-mnist).
    #[arg(value_parser = ["cifar10", "fashion-mnist"])]
    pub dataset: String,
    /// The data set's directory: for cifar10 the extracted cifar-10-batches-bin (data_batch_1.bin
    /// .. data_batch_5.bin, test_batch.bin); fashion-mnist defaults to Debian's location.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The model: cifarnet (default for cifar10) or resnet18; mlp (default for fashion-mnist) or
    /// cnn.
    #[arg(long)]
    pub model: Option<String>,
    /// flex (default), ndarray, wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Minutes on 2 cores instead of hours: fewer steps, fewer images, a smaller matrix.
    #[arg(long)]
    pub quick: bool,
    /// sim (the in-process simulator), or loopback (the throughput part also as processes over
    /// TLS on loopback).
    #[arg(long, default_value = "sim", value_parser = ["sim", "loopback"])]
    pub runtime: String,
    /// Test accuracy the convergence overhead is measured to (default: 0.8 for fashion-mnist, 0.6
    /// for cifar10; with --quick, 90% of vanilla's best).
    #[arg(long)]
    pub target: Option<f64>,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The output folder; rerun into it to resume.
    #[arg(long)]
    pub out: PathBuf,
}

/// The parts, in the order they run.
pub const PARTS: [&str; 4] = ["convergence", "throughput", "robustness", "contraction"];

/// What a completed part cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartDone {
    /// Wall seconds.
    pub wall_seconds: f64,
    /// Trainings run.
    pub runs: usize,
    /// Steps trained, all runs together.
    pub steps: u64,
    /// The commit of the checkout it ran in (see [`report::commit`]).
    #[serde(default)]
    pub commit: String,
}

/// `OUT/reproduce.json`: the plan and the parts done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// What is measured.
    pub plan: Plan,
    /// The command that started it.
    pub command: String,
    /// The parts completed, by name.
    pub parts: BTreeMap<String, PartDone>,
}

const STATE: &str = "reproduce.json";

fn plan_of(a: &ReproduceArgs) -> Result<Plan> {
    let model = match (a.dataset.as_str(), a.model.as_deref()) {
        ("cifar10", None) => "cifarnet",
        ("fashion-mnist", None) => "mlp",
        ("cifar10", Some(m @ ("cifarnet" | "resnet18"))) => m,
        ("fashion-mnist", Some(m @ ("mlp" | "cnn"))) => m,
        (d, Some(m)) => bail!(
            "--model {m} does not fit {d}: cifar10 takes cifarnet or resnet18, fashion-mnist mlp or cnn"
        ),
        (d, None) => bail!("unknown data set {d}"),
    };
    if let Some(t) = a.target
        && !(t > 0.0 && t <= 1.0)
    {
        bail!("--target {t}: a test accuracy in (0, 1]");
    }
    if a.dataset == "cifar10" && a.data_dir.is_none() {
        bail!(
            "reproduce cifar10 needs --data-dir DIR: the extracted cifar-10-batches-bin of \
             cifar-10-binary.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html), holding \
             data_batch_1.bin .. data_batch_5.bin and test_batch.bin; `byzsgd datasets generate \
             cifar10 --out DIR` writes generated images in that format for a try-out"
        );
    }
    let mut plan = Plan::new(&a.dataset, model, a.quick);
    plan.device = a.device.clone();
    plan.runtime = a.runtime.clone();
    plan.seed = a.seed;
    if a.target.is_some() {
        plan.target = a.target;
    }
    if let Some(dir) = &a.data_dir {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("the data directory {}", dir.display()))?;
        plan.synthetic = dir.join(GENERATED_MARKER).exists();
        plan.data_dir = Some(dir.display().to_string());
    }
    Ok(plan)
}

/// The data the plan trains on: the first `train_images` and `test_images` of the set.
fn data_of(plan: &Plan) -> Result<Split> {
    let dir = plan.data_dir.as_ref().map(PathBuf::from);
    let mut split = load(&plan.dataset, dir.as_ref())?;
    let first = |n: Option<usize>, len: usize| (0..n.unwrap_or(len).min(len)).collect::<Vec<_>>();
    if plan.train_images.is_some() {
        split.train = split
            .train
            .subset(&first(plan.train_images, split.train.len()));
    }
    if plan.test_images.is_some() {
        split.test = split
            .test
            .subset(&first(plan.test_images, split.test.len()));
    }
    Ok(split)
}

/// Reads `OUT/reproduce.json` if there is one: the same plan, or an error naming what differs.
fn resume(out: &Path, plan: &Plan, command: &str) -> Result<State> {
    let path = out.join(STATE);
    if !path.exists() {
        return Ok(State {
            plan: plan.clone(),
            command: command.into(),
            parts: BTreeMap::new(),
        });
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let state: State = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a reproduction's state: remove it or pick another --out",
            path.display()
        )
    })?;
    if let Some(d) = plan.difference(&state.plan) {
        bail!(
            "{} holds a reproduction with other settings ({d}): rerun it with its own command \
             (`{}`) or pick another --out",
            out.display(),
            state.command
        );
    }
    Ok(state)
}

/// Writes `bytes` to `path` through a temporary file and a rename: never half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Runs `byzsgd reproduce`.
pub fn run(a: &ReproduceArgs, out: &mut impl Write) -> Result<()> {
    let plan = plan_of(a)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut state = resume(&a.out, &plan, &command)?;
    let device = parse_device(&plan.device)?;
    let data = data_of(&plan)?;
    byzsgd_burn::check_shape(&plan.model, &data)?;
    let norm = normalization(&plan.dataset);
    let data_dir = plan.data_dir.as_ref().map(PathBuf::from);
    let cx = Context {
        plan: &plan,
        data: &data,
        norm: &norm,
        device: &device,
        data_dir: data_dir.as_deref(),
        out: &a.out,
    };
    writeln!(
        out,
        "reproducing {} with {} on {} ({} train / {} test images{}){}: {}",
        plan.dataset,
        plan.model,
        plan.device,
        data.train.len(),
        data.test.len(),
        if plan.synthetic {
            ", generated: synthetic"
        } else {
            ""
        },
        if plan.quick { ", quick" } else { "" },
        a.out.display()
    )?;
    for (k, part) in PARTS.iter().enumerate() {
        let csv = a.out.join(format!("{part}.csv"));
        if state.parts.contains_key(*part) && csv.exists() {
            writeln!(out, "[{}/{}] {part}: done before, kept", k + 1, PARTS.len())?;
            continue;
        }
        writeln!(out, "[{}/{}] {part}", k + 1, PARTS.len())?;
        out.flush()?;
        let started = Instant::now();
        let PartOutput {
            csv: rows,
            runs,
            steps,
        } = match *part {
            "convergence" => parts::convergence(&cx)?,
            "throughput" => parts::throughput(&cx)?,
            "robustness" => parts::robustness(&cx)?,
            _ => parts::contraction(&cx)?,
        };
        write_atomic(&csv, rows.as_bytes())?;
        let done = PartDone {
            wall_seconds: started.elapsed().as_secs_f64(),
            runs,
            steps,
            commit: report::commit(),
        };
        writeln!(
            out,
            "[{}/{}] {part}: {runs} runs, {steps} steps in {:.1} s -> {}",
            k + 1,
            PARTS.len(),
            done.wall_seconds,
            csv.display()
        )?;
        state.parts.insert(part.to_string(), done);
        write_atomic(
            &a.out.join(STATE),
            serde_json::to_string_pretty(&state)?.as_bytes(),
        )?;
    }
    let report = report::write(&a.out, &state)?;
    writeln!(out, "wrote {}", report.display())?;
    Ok(())
}
