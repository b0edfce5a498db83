//! `byzsgd evaluate`: the test accuracy of a trained model file (a run's `model.bpk`), on the data
//! set it was trained for (read from the run's `summary.json` beside it) or another one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module as _;
use byzsgd_burn::{check_shape, parse_device, test_accuracy};
use byzsgd_models::Model;

use super::simulate::load_split;

/// Arguments of `byzsgd evaluate`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvaluateArgs {
    /// The model file (a run's model.bpk, Burn's record format).
    #[arg(long)]
    pub model: PathBuf,
    /// Its architecture: mlp, cnn, cifarnet, resnet18 (default: the run's, from summary.json
    /// beside the model).
    #[arg(long)]
    pub arch: Option<String>,
    /// The data set to score on (default: the run's).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory of the data set's files (default: the run's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the synthetic data set (default: the run's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// flex (default), ndarray, wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
}

/// What the run that wrote `model` says about it, if its summary is there.
fn run_config(model: &Path) -> Result<Option<serde_json::Value>> {
    let path = model.with_file_name("summary.json");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(summary["config"].clone()))
}

/// Runs `byzsgd evaluate`.
pub fn run(args: &EvaluateArgs, out: &mut impl Write) -> Result<()> {
    if !args.model.is_file() {
        bail!(
            "{}: no such model file (byzsgd simulate writes OUT/model.bpk)",
            args.model.display()
        );
    }
    let config = run_config(&args.model)?;
    let from_run = |key: &str| -> Option<serde_json::Value> {
        config
            .as_ref()
            .map(|c| c[key].clone())
            .filter(|v| !v.is_null())
    };
    let text = |key: &str| from_run(key).and_then(|v| v.as_str().map(String::from));
    let Some(arch) = args.arch.clone().or_else(|| text("model")) else {
        bail!(
            "no summary.json beside {} to say what the model is: pass --arch and --dataset",
            args.model.display()
        );
    };
    let Some(dataset) = args.dataset.clone().or_else(|| text("dataset")) else {
        bail!(
            "no summary.json beside {}: pass --dataset",
            args.model.display()
        );
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| text("data_dir").map(PathBuf::from));
    let seed = match args.seed {
        Some(s) => s,
        None => from_run("seed").and_then(|v| v.as_u64()).unwrap_or(1),
    };
    let (split, norm) = load_split(&dataset, data_dir.as_ref(), seed)?;
    check_shape(&arch, &split)?;
    let device = parse_device(&args.device)?;
    let model = Model::new(&arch, &device)?
        .try_load_file(&args.model)
        .map_err(|e| anyhow::anyhow!("{} is not a {arch} model file: {e}", args.model.display()))?;
    let accuracy = test_accuracy(&model, &split.test, &norm, &device);
    writeln!(
        out,
        "test accuracy of {} ({arch}) on {dataset} ({} test images): {:.2}%",
        args.model.display(),
        split.test.len(),
        100.0 * accuracy
    )?;
    writeln!(out, "accuracy {accuracy}")?;
    Ok(())
}
