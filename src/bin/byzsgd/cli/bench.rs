//! `byzsgd bench`: how much a robust rule costs next to the plain mean.
//!
//! `aggregators` times every built-in rule whose bound admits `(n, f)` on seeded random inputs
//! (honest rows near 1, the last `f` rows scaled by -100) through the host kernels
//! (`Aggregator::aggregate_rows`), round-robin: a warm-up round, then `--repeats` rounds in which
//! each rule runs once; per rule the median milliseconds and the median per-round ratio to
//! `average`. `mda-search` times MDA's exact subset search alone on a random distance matrix.
//! `step` and `flat` (in `bench_model`) time a model's training step and its flat views.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use byzsgd_core::registry::{self, RULES};
use byzsgd_core::{Aggregator, Distances, Error, Exec, Rows, min_diameter_subset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arguments of `byzsgd bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to time.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// Time every aggregation rule against the plain mean (`average`).
    Aggregators(AggregatorsArgs),
    /// Time MDA's exact minimum-diameter subset search on a random distance matrix.
    MdaSearch(MdaSearchArgs),
    /// Time one training step of a model (forward, backward, flat gradient, SGD).
    Step(super::bench_model::StepArgs),
    /// Time flattening a model's parameters and loading them back, against a memcpy.
    Flat(super::bench_model::FlatArgs),
    /// Time CifarNet's convolutions and poolings: Burn's layers against tensor-op versions.
    Layers(super::bench_layers::LayersArgs),
    /// Wall time per step of ByzSGD (async and sync) against vanilla SGD in the simulator.
    Throughput(super::bench_overhead::ThroughputArgs),
    /// Steps to a test accuracy of ByzSGD against vanilla SGD.
    Convergence(super::bench_overhead::ConvergenceArgs),
    /// The protocol's own cost per step, on a one-pass gradient (no model).
    Protocol(super::bench_protocol::ProtocolArgs),
    /// Encode and decode a gradient frame, against a memcpy of its bytes.
    Wire(super::bench_net::WireArgs),
    /// A node's resident memory under slow-loris peers and connections held in the handshake.
    Loris(super::bench_net::LorisArgs),
    /// Wall time per step of ByzSGD against vanilla, each a cluster of processes on loopback.
    Loopback(super::bench_net::LoopbackArgs),
}

/// Output format of `bench aggregators`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header line; skipped rules shown with their bound.
    #[default]
    Table,
    /// `rule,ms,ratio`, one line per timed rule.
    Csv,
}

/// Arguments of `byzsgd bench aggregators`.
#[derive(Debug, Clone, clap::Args)]
pub struct AggregatorsArgs {
    /// Number of inputs (rows).
    #[arg(long)]
    pub n: usize,
    /// Declared Byzantine inputs; the last f rows are Byzantine.
    #[arg(long)]
    pub f: usize,
    /// Dimension of each input.
    #[arg(long)]
    pub d: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Comma-separated rules to time (default: all); `average` is always timed as the baseline.
    #[arg(long, value_delimiter = ',')]
    pub rules: Vec<String>,
    /// Pre-aggregation in front of every rule but the baseline (nnm).
    #[arg(long)]
    pub pre: Option<String>,
    /// Timed runs per rule (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Arguments of `byzsgd bench mda-search`.
#[derive(Debug, Clone, clap::Args)]
pub struct MdaSearchArgs {
    /// Number of inputs.
    #[arg(long, default_value_t = 25)]
    pub n: usize,
    /// Declared Byzantine inputs; subsets have n-f members.
    #[arg(long, default_value_t = 8)]
    pub f: usize,
    /// Timed runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Seed of the random points whose distances are searched.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `byzsgd bench`, printing the report to `out`.
pub fn run(args: &BenchArgs, out: &mut impl Write) -> Result<()> {
    match &args.command {
        BenchCommand::Aggregators(a) => aggregators(a, out),
        BenchCommand::MdaSearch(a) => mda_search(a, out),
        BenchCommand::Step(a) => super::bench_model::step(a, out),
        BenchCommand::Flat(a) => super::bench_model::flat(a, out),
        BenchCommand::Layers(a) => super::bench_layers::layers(a, out),
        BenchCommand::Throughput(a) => super::bench_overhead::throughput(a, out),
        BenchCommand::Convergence(a) => super::bench_overhead::convergence(a, out),
        BenchCommand::Protocol(a) => super::bench_protocol::protocol(a, out),
        BenchCommand::Wire(a) => super::bench_net::wire(a, out),
        BenchCommand::Loris(a) => super::bench_net::loris(a, out),
        BenchCommand::Loopback(a) => super::bench_net::loopback(a, out),
    }
}

/// One rule's row: its name, and its median milliseconds and ratio, or why it was skipped.
type Outcome = (String, std::result::Result<(f64, f64), String>);

/// Builds rule `name` (behind `pre`), or says which bound excludes `(n, f)`.
fn build(
    name: &str,
    pre: Option<&str>,
    n: usize,
    f: usize,
) -> Result<std::result::Result<Box<dyn Aggregator>, String>> {
    match registry::build_with_pre(name, pre, n, f, Exec::Auto) {
        Ok(rule) => Ok(Ok(rule)),
        Err(Error::Bound {
            rule, bound, min, ..
        }) => Ok(Err(format!(
            "skipped: {rule} needs n >= {bound} (at least {min})"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Times every rule round-robin: a warm-up round, then `repeats` rounds in which each rule runs
/// once, so drift in the machine's speed (shared, noisy hosts) hits every rule alike. Reports
/// each rule's median milliseconds and the median of its per-round ratio to `average`.
fn time_round_robin(
    rules: &[&dyn Aggregator],
    rows: Rows<'_>,
    repeats: usize,
) -> Result<Vec<(f64, f64)>> {
    let mut times = vec![Vec::with_capacity(repeats); rules.len()];
    for round in 0..=repeats {
        for (rule, slot) in rules.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            std::hint::black_box(rule.aggregate_rows(rows)?);
            if round > 0 {
                slot.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = times[0].clone();
    Ok(times
        .iter()
        .map(|t| {
            (
                median(t.clone()),
                median(t.iter().zip(&base).map(|(x, b)| x / b).collect()),
            )
        })
        .collect())
}

fn aggregators(args: &AggregatorsArgs, out: &mut impl Write) -> Result<()> {
    let (n, f, d) = (args.n, args.f, args.d);
    if n == 0 || d == 0 || args.repeats == 0 {
        bail!("--n, --d and --repeats must be at least 1");
    }
    for name in &args.rules {
        registry::info(name)?;
    }
    let data = inputs(n, f, d, args.seed);
    let rows = Rows::new(&data, n, d)?;
    // `average` first: the baseline of every ratio.
    let mut names = Vec::new();
    let mut built = Vec::new();
    for name in RULES.iter().map(|r| r.name) {
        let wanted = args.rules.is_empty() || args.rules.iter().any(|r| r == name);
        if name == "average" {
            names.push(name.to_string());
            built.push(build(name, None, n, f)?);
        } else if wanted {
            let rule = build(name, args.pre.as_deref(), n, f)?;
            names.push(rule.as_ref().map_or(name.to_string(), |r| r.name()));
            built.push(rule);
        }
    }
    let runnable: Vec<&dyn Aggregator> = built.iter().filter_map(|b| b.as_deref().ok()).collect();
    let mut timed = time_round_robin(&runnable, rows, args.repeats)?.into_iter();
    let outcomes: Vec<Outcome> = names
        .into_iter()
        .zip(&built)
        .map(|(name, b)| {
            (
                name,
                b.as_ref()
                    .map(|_| timed.next().expect("one timing per runnable rule"))
                    .map_err(Clone::clone),
            )
        })
        .collect();
    if args.format == Format::Csv {
        writeln!(out, "rule,ms,ratio")?;
        for (name, r) in &outcomes {
            if let Ok((ms, ratio)) = r {
                writeln!(out, "{name},{ms:.3},{ratio:.2}")?;
            }
        }
        return Ok(());
    }
    let pre = args
        .pre
        .as_deref()
        .map_or(String::new(), |p| format!(", pre {p}"));
    let (threads, repeats, seed) = (threads(), args.repeats, args.seed);
    writeln!(
        out,
        "aggregators: n = {n}, f = {f}, d = {d}, {threads} threads{pre}, seed {seed}"
    )?;
    writeln!(
        out,
        "round-robin, 1 warm-up + {repeats} rounds; ms = median; ratio = median of per-round ms / average's ms"
    )?;
    let width = outcomes
        .iter()
        .map(|o| o.0.len())
        .max()
        .unwrap_or(0)
        .max("rule".len());
    writeln!(out, "{:width$}  {:>10}  {:>8}", "rule", "ms", "ratio")?;
    for (name, r) in &outcomes {
        match r {
            Ok((ms, ratio)) => writeln!(out, "{name:width$}  {ms:>10.3}  {ratio:>8.2}")?,
            Err(why) => writeln!(out, "{name:width$}  {why}")?,
        }
    }
    Ok(())
}

fn mda_search(args: &MdaSearchArgs, out: &mut impl Write) -> Result<()> {
    let (n, f) = (args.n, args.f);
    if f >= n || args.repeats == 0 {
        bail!("mda-search needs f < n and --repeats >= 1, got n = {n}, f = {f}");
    }
    let k = n - f;
    let dim = 8;
    let points = inputs(n, 0, dim, args.seed);
    let sq = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let rows: Vec<&[f32]> = points.chunks_exact(dim).collect();
    let d2 = rows
        .iter()
        .flat_map(|a| rows.iter().map(|b| sq(a, b)))
        .collect();
    let dist = Distances::from_squared(n, d2);
    let mut found = (Vec::new(), 0.0);
    let ms = median_ms(args.repeats, || {
        found = std::hint::black_box(min_diameter_subset(&dist, k));
        Ok(())
    })?;
    let subsets = binomial(n, k).map_or_else(|| "too many for u128".to_string(), |c| c.to_string());
    writeln!(
        out,
        "mda-search: n = {n}, f = {f}, subsets C({n}, {k}) = {subsets}"
    )?;
    writeln!(
        out,
        "{ms:.3} ms (median of {} runs); diameter^2 {:.4} of {:?}",
        args.repeats, found.1, found.0
    )?;
    Ok(())
}

/// Seeded `[n, d]` inputs: honest values `1 + 0.1 * (sum of 4 uniforms in [-1, 1])` (roughly
/// gaussian), the last `f` rows the same scaled by -100.
pub fn inputs(n: usize, f: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        let scale = if i + f >= n { -100.0 } else { 1.0 };
        for _ in 0..d {
            let noise: f32 = (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum();
            data.push(scale * (1.0 + 0.1 * noise));
        }
    }
    data
}

/// One untimed warm-up call of `run`, then the median of `repeats` timed calls, in milliseconds.
fn median_ms<T>(repeats: usize, mut run: impl FnMut() -> byzsgd_core::Result<T>) -> Result<f64> {
    run()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        run()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(super::stats::median(times))
}

/// Worker threads the host kernels use: `RAYON_NUM_THREADS` when set, else the CPU count.
fn threads() -> usize {
    let env = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0);
    env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}

/// `C(n, k)`, or `None` when a partial product overflows `u128`.
fn binomial(n: usize, k: usize) -> Option<u128> {
    let k = k.min(n - k) as u128;
    (0..k).try_fold(1u128, |c, i| Some(c.checked_mul(n as u128 - i)? / (i + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(25, 17), Some(1_081_575));
        assert_eq!(binomial(5, 5), Some(1));
        assert_eq!(binomial(7, 1), Some(7));
        assert_eq!(binomial(300, 150), None);
    }

    #[test]
    fn inputs_are_seeded_and_byzantine_rows_stand_out() {
        let a = inputs(5, 2, 10, 7);
        assert_eq!(a, inputs(5, 2, 10, 7));
        assert_ne!(a, inputs(5, 2, 10, 8));
        assert!(a[..30].iter().all(|v| (0.5..1.5).contains(v)));
        assert!(a[30..].iter().all(|v| *v < -50.0));
    }

    #[test]
    fn table_names_skipped_rules_with_their_bound() {
        let args = AggregatorsArgs {
            n: 5,
            f: 1,
            d: 16,
            format: Format::Table,
            rules: vec!["median".into(), "bulyan".into()],
            pre: None,
            repeats: 1,
            seed: 1,
        };
        let mut out = Vec::new();
        aggregators(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("aggregators: n = 5, f = 1, d = 16,"),
            "{text}"
        );
        assert!(
            text.contains("bulyan needs n >= 4f+3 (at least 7)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}
