//! `byzsgd aggregate`: one robust aggregation of the rows of an `.npy` matrix.
//!
//! The rows of the `[n, d]` f32 input are the `n` inputs; the rule is built for that `n` and the
//! declared `f`, so its bound (e.g. Krum's `n >= 2f+3`) is checked before anything runs. The `[d]`
//! result is written only on success, atomically: on any error no output file appears.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use byzsgd_core::{Exec, registry};

use byzsgd::npy::{self, NpyError};

/// Arguments of `byzsgd aggregate`.
#[derive(Debug, Clone, clap::Args)]
pub struct AggregateArgs {
    /// Aggregation rule (see `byzsgd rules`), e.g. mda, krum, median.
    #[arg(long)]
    pub rule: String,
    /// Declared number of Byzantine inputs among the rows.
    #[arg(long)]
    pub f: usize,
    /// Pre-aggregation applied before the rule (nnm).
    #[arg(long)]
    pub pre: Option<String>,
    /// Input: an n x d little-endian f32 ('<f4') .npy matrix, one input per row.
    #[arg(long)]
    pub input: PathBuf,
    /// Output: the aggregate, an f32 .npy vector of length d (written only on success).
    #[arg(long)]
    pub output: PathBuf,
    /// Device to aggregate on (flex, ndarray, wgpu); host devices run the rules' CPU kernels.
    #[arg(long, default_value = "flex")]
    pub device: String,
}

/// `error` about file `path`, the `role` (input, output) named, the path named once.
fn about(role: &str, path: &Path, error: NpyError) -> anyhow::Error {
    match error {
        NpyError::Io { .. } => anyhow!("{role} {error}"),
        _ => anyhow!("{role} {}: {error}", path.display()),
    }
}

/// Runs `byzsgd aggregate`, printing a one-line summary to `out`.
pub fn run(args: &AggregateArgs, out: &mut impl Write) -> Result<()> {
    let device = byzsgd_burn::parse_device(&args.device)?;
    let (data, [n, d]) =
        npy::read_f32_matrix(&args.input).map_err(|e| about("input", &args.input, e))?;
    let rule = registry::build_with_pre(&args.rule, args.pre.as_deref(), n, args.f, Exec::Auto)?;
    // Host devices run the rules' CPU kernels on the tensor's own buffer; others, tensor ops.
    let detailed = rule.aggregate_detailed(byzsgd_core::rows::matrix_on(data, n, d, &device))?;
    let (aggregate, kept) = (
        byzsgd_core::rows::host_vector(detailed.value)?,
        detailed.kept,
    );
    npy::write_f32_vector(&args.output, &aggregate)
        .map_err(|e| about("output", &args.output, e))?;
    writeln!(
        out,
        "{}: n = {n}, f = {}, d = {d}, kept {} of {n} {kept:?} -> {}",
        rule.name(),
        args.f,
        kept.len(),
        args.output.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &std::path::Path, rule: &str, f: usize) -> AggregateArgs {
        AggregateArgs {
            rule: rule.into(),
            f,
            pre: None,
            input: dir.join("in.npy"),
            output: dir.join("out.npy"),
            device: "flex".into(),
        }
    }

    #[test]
    fn aggregates_rows_of_a_matrix() {
        let dir = std::env::temp_dir().join(format!("byzsgd-agg-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A 1-row "matrix" written as a vector is refused: rank 1 is not [n, d].
        npy::write_f32_vector(dir.join("in.npy"), &[1.0, 2.0]).unwrap();
        let err = run(&args(&dir, "average", 0), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("[n, d]"), "{err:#}");
        assert!(!dir.join("out.npy").exists());
        let mut unknown = args(&dir, "nope", 0);
        unknown.device = "wgpu".into();
        let err = run(&unknown, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("--features wgpu"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
