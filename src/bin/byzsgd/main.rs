//! `byzsgd`: the command line of Byzantine-resilient distributed SGD. Parses arguments and hands
//! each command to its module in [`cli`]; errors print as `error: ...` with exit status 1. The
//! command line is this binary's, not library API: the library is the `byzsgd` facade.

use std::process::ExitCode;

mod cli;

use clap::{Parser, Subcommand};
use cli::{AggregateArgs, BenchArgs};

/// Byzantine-resilient distributed SGD: robust aggregation rules and their tools.
#[derive(Debug, Parser)]
#[command(name = "byzsgd", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Keep subnormal floats (slow on many x86 cores) instead of flushing them to zero, as every
    /// thread of byzsgd does by default; launch's nodes inherit it.
    #[arg(long, global = true, env = "BYZSGD_KEEP_DENORMALS")]
    keep_denormals: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole ByzSGD cluster in this process: the main job. With no flags: synthetic data,
    /// mlp, 5 servers (1 equivocating), 7 workers (2 running ALIE), MDA, about a minute.
    ///
    /// Example: byzsgd simulate --dataset fashion-mnist --attack foe:10 --steps 500 --out runs/foe
    Simulate(Box<cli::SimulateArgs>),
    /// Run a whole cluster as separate processes on loopback, over mutual TLS: the flags of
    /// simulate. Writes OUT/cluster.toml, OUT/certs/, OUT/nodes.csv, OUT/logs/, then what
    /// simulate writes.
    ///
    /// Example: byzsgd launch --dataset fashion-mnist --steps 500 --out runs/net
    Launch(Box<cli::launch::LaunchArgs>),
    /// Run one node of a cluster file, server or worker as its index says: --id, or the index
    /// Slurm (SLURM_PROCID), an indexed Job (JOB_COMPLETION_INDEX) or a StatefulSet (the host
    /// name's ordinal) gives; servers are 0..n_ps, then workers. One command line for every
    /// task or pod.
    ///
    /// Example: srun byzsgd node --config cluster.toml --resume
    Node(cli::node::NodeArgs),
    /// Run one server replica of a cluster file (logs: RUST_LOG).
    ///
    /// Example: byzsgd server --config runs/net/cluster.toml --id s3 --resume
    Server(cli::node::NodeArgs),
    /// Run one worker of a cluster file (logs: RUST_LOG).
    ///
    /// Example: byzsgd worker --config runs/net/cluster.toml --id w0
    Worker(cli::node::NodeArgs),
    /// Write a cluster file that puts node i (servers first) on the i-th host of a list, at
    /// port BASE + i: an allocation's hosts turned into the file every task reads.
    ///
    /// Example: scontrol show hostnames | byzsgd place --config base.toml --hosts - --out run/cluster.toml
    Place(cli::place::PlaceArgs),
    /// Make a cluster CA and one key and certificate per node of a cluster file.
    ///
    /// Example: byzsgd keygen --config cluster.toml --out certs
    Keygen(cli::keygen::KeygenArgs),
    /// Reproduce the paper's claims on CIFAR-10 or Fashion-MNIST: convergence, throughput, a
    /// robustness matrix and contraction, as OUT/REPORT.md with CSVs and plots; rerun to resume.
    ///
    /// Example: byzsgd reproduce fashion-mnist --quick --out runs/repro
    Reproduce(cli::reproduce::ReproduceArgs),
    /// Merge the outputs of a cluster's nodes into metrics.csv, summary.json, plots, model.bpk.
    ///
    /// Example: byzsgd report runs/net
    Report(cli::report::ReportArgs),
    /// The test accuracy of a trained model file (a run's model.bpk).
    ///
    /// Example: byzsgd evaluate --model runs/foe/model.bpk
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Aggregate the rows of an n x d f32 .npy matrix with a robust rule into one .npy vector.
    ///
    /// Example: byzsgd aggregate --rule mda --f 2 --input grads.npy --output agg.npy
    Aggregate(AggregateArgs),
    /// Time the aggregation rules (or MDA's subset search) on seeded random inputs.
    ///
    /// Example: byzsgd bench aggregators --n 25 --f 8 --d 100000 --format csv
    Bench(BenchArgs),
    /// List the aggregation rules with their resilience bounds, and the pre-aggregations; or
    /// check them on a device.
    ///
    /// Example: byzsgd rules --check --device wgpu
    Rules(cli::rules::RulesArgs),
    /// List the models with their input shapes and exact parameter counts.
    Models,
    /// Inspect a data set (counts, shape, class histogram), or write generated images in the
    /// CIFAR-10 binary format.
    ///
    /// Example: byzsgd datasets inspect cifar10 --data-dir ~/cifar-10-batches-bin
    Datasets(cli::datasets::DatasetsArgs),
}

/// Lets glibc's allocator reuse the large buffers of a training step instead of mapping fresh
/// pages for each (and faulting and zeroing them): a CifarNet step allocates column matrices and
/// activations of up to tens of MB, which by default are mmap-ed and unmapped every time.
/// Blocks up to 32 MB (glibc's largest threshold) now come from the heap, and up to 512 MB freed
/// at its top is kept. 7-9% off a CifarNet step on flex (BENCHMARKS.md). A `MALLOC_MMAP_THRESHOLD_`
/// in the environment is the user's choice and is left alone.
fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets allocator parameters; no allocation is in flight here.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread starts: the gradient pool's and Burn's threads inherit it.
    if cli.keep_denormals {
        // SAFETY: no other thread runs yet. The nodes launch starts inherit the choice.
        unsafe { std::env::set_var("BYZSGD_KEEP_DENORMALS", "true") };
    } else {
        byzsgd::denormals::flush_denormals(true);
    }
    keep_large_buffers();
    let mut stdout = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Simulate(args) => cli::simulate::run(args, &mut stdout),
        Command::Launch(args) => cli::launch::run(args, &mut stdout),
        Command::Node(args) => cli::node::run(args, None, &mut stdout),
        Command::Server(args) => cli::node::run(args, Some("server"), &mut stdout),
        Command::Worker(args) => cli::node::run(args, Some("worker"), &mut stdout),
        Command::Place(args) => cli::place::run(args, &mut stdout),
        Command::Keygen(args) => cli::keygen::run(args, &mut stdout),
        Command::Reproduce(args) => cli::reproduce::run(args, &mut stdout),
        Command::Report(args) => cli::report::run(args, &mut stdout),
        Command::Evaluate(args) => cli::evaluate::run(args, &mut stdout),
        Command::Aggregate(args) => cli::aggregate::run(args, &mut stdout),
        Command::Bench(args) => cli::bench::run(args, &mut stdout),
        Command::Rules(args) => cli::rules::run(args, &mut stdout),
        Command::Models => cli::models::run(&mut stdout),
        Command::Datasets(args) => cli::datasets::run(args, &mut stdout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
