//! `byzsgd bench protocol`: the protocol's own cost per step, with no model in the way.
//!
//! The simulator runs vanilla, async and sync ByzSGD (the clusters of `bench throughput`) on a
//! gradient source that costs one pass over the parameters (a quadratic, no noise to draw), so
//! nearly all of the wall time is the protocol: the medians, the aggregations, the updates, the
//! filters, the messages' vectors and the metrics, every node's share on the event loop's one
//! thread. What it measures is what a cluster whose nodes each have their own cores pays per step
//! on top of the gradient time, summed over the nodes; `bench throughput` shows how that cost
//! lands on a step when the nodes share the cores with the gradients.

use std::io::Write;

use anyhow::{Result, bail};
use byzsgd_core::node::{ClusterSpec, GradientSource};
use byzsgd_core::sim::Simulation;

use super::bench_overhead::{RuleArgs, Timing, cluster_of, summary};

/// Arguments of `byzsgd bench protocol`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProtocolArgs {
    /// Parameters of the model (default: CifarNet's).
    #[arg(long, default_value_t = 1_756_426)]
    pub dim: usize,
    /// Workers.
    #[arg(long, default_value_t = 7)]
    pub workers: usize,
    /// ByzSGD replicas (vanilla has one).
    #[arg(long, default_value_t = 5)]
    pub servers: usize,
    /// Steps per run (the first 2 and the last are not timed).
    #[arg(long, default_value_t = 30)]
    pub steps: u64,
    /// Runs of each mode, interleaved; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// The modes to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "vanilla,async,sync")]
    pub modes: Vec<String>,
    /// ByzSGD's rule options.
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// Worker `w`'s gradient at `θ` is `θ − c_w` with `c_w` a per-worker constant: one pass, a
/// different vector per worker (so distances, medians and MDA's choice are not degenerate).
#[derive(Clone)]
struct Cheap {
    dim: usize,
}

impl GradientSource for Cheap {
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_params(&self) -> Vec<f32> {
        vec![0.0; self.dim]
    }
    fn gradient(
        &mut self,
        worker: usize,
        _step: u64,
        params: &[f32],
    ) -> byzsgd_core::Result<(Vec<f32>, f32)> {
        let c = 1.0 + 0.01 * worker as f32;
        Ok((params.iter().map(|p| p - c).collect(), 0.0))
    }
    fn evaluate(&mut self, _params: &[f32]) -> byzsgd_core::Result<Option<f64>> {
        Ok(None)
    }
    fn fork(&self) -> Box<dyn GradientSource> {
        Box::new(self.clone())
    }
}

/// Runs `byzsgd bench protocol`.
pub fn protocol(a: &ProtocolArgs, out: &mut impl Write) -> Result<()> {
    if a.steps < 5 || a.repeats == 0 || a.dim == 0 {
        bail!("--steps must be at least 5, --repeats at least 1 and --dim at least 1");
    }
    let modes = a
        .modes
        .iter()
        .map(|m| cluster_of(m, a.servers, a.workers))
        .collect::<Result<Vec<_>>>()?;
    let mut times = vec![Vec::new(); modes.len()];
    for r in 0..a.repeats {
        for (i, cfg) in modes.iter().enumerate() {
            let spec = a.rule.apply(ClusterSpec {
                steps: a.steps,
                eval_every: 0,
                threads: 1,
                seed: r as u64 + 1,
                ..cfg.clone()
            });
            let steps = spec.steps;
            let source = Box::new(Cheap { dim: a.dim });
            let report = Simulation::new(spec.resolve()?, source).run(&mut |_| {})?;
            let t = Timing::of(&report, steps)?;
            eprintln!(
                "run {}/{} {}: {:.1} ms/step, of which the protocol {:.1} ms",
                r + 1,
                a.repeats,
                a.modes[i],
                1e3 * t.step,
                1e3 * t.protocol
            );
            times[i].push(t);
        }
    }
    writeln!(
        out,
        "protocol alone: {} parameters, {} workers, {} replicas ({}), a one-pass gradient on \
         one thread; ms per step over {} seeds (median [min-max])",
        a.dim,
        a.workers,
        a.servers,
        a.rule.describe(),
        a.repeats
    )?;
    writeln!(out, "{:<8} {:>22} {:>14}", "mode", "ms/step", "protocol ms")?;
    for (name, t) in a.modes.iter().zip(times) {
        let r = summary(&t);
        writeln!(out, "{name:<8} {:>22} {:>14.1}", r.range, r.protocol_ms)?;
    }
    Ok(())
}
