//! The four parts of a reproduction. Each runs its trainings and returns its rows as CSV text
//! (the caller writes the file when the part completes) and how long it took.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use burn::tensor::Device;
use byzsgd_burn::train_classifier;
use byzsgd_core::node::ClusterSpec;
use byzsgd_core::sim::Report;
use byzsgd_datasets::{Normalization, Split};

use super::plan::{CONVERGENCE_ATTACKS, Plan};
use crate::cli::bench_net::Launched;
use crate::cli::bench_overhead::{MODES, RuleArgs, byzsgd, time_modes, vanilla};

/// A part's outcome: its CSV (header first) and what it cost.
pub struct PartOutput {
    /// The rows, header first.
    pub csv: String,
    /// Trainings run.
    pub runs: usize,
    /// Steps trained, all runs together.
    pub steps: u64,
}

/// What every part trains with.
pub struct Context<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The (possibly shrunk) data.
    pub data: &'a Split,
    /// Its normalisation.
    pub norm: &'a Normalization,
    /// The device.
    pub device: &'a Device,
    /// The data's directory (for the loopback runs, which load it themselves).
    pub data_dir: Option<&'a Path>,
    /// Where loopback runs write their clusters.
    pub out: &'a Path,
}

impl Context<'_> {
    /// One simulated training of `spec`, logged as `label` with its final accuracy and time.
    fn train(&self, label: &str, spec: ClusterSpec) -> Result<Report> {
        let started = Instant::now();
        let steps = spec.steps;
        let report = train_classifier(
            &self.plan.model,
            self.data,
            self.norm,
            self.device,
            spec,
            &mut |_| {},
        )
        .with_context(|| format!("training {label}"))?
        .report;
        let acc = match (report.diverged, report.final_test_accuracy) {
            (Some(step), _) => format!("diverged at step {step}"),
            (None, Some(a)) => format!("{:.1}%", 100.0 * a),
            (None, None) => "n/a".into(),
        };
        eprintln!(
            "    {label}: {acc} after {steps} steps ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(report)
    }

    fn spec(&self, base: ClusterSpec, steps: u64, eval_every: u64) -> ClusterSpec {
        ClusterSpec {
            steps,
            batch: self.plan.batch,
            momentum: self.plan.momentum,
            lipschitz_slack: self.plan.lipschitz_slack,
            eval_every,
            seed: self.plan.seed,
            ..base
        }
    }
}

/// The convergence run of async ByzSGD with the paper's rule, MDA alone: the default puts
/// nearest-neighbour mixing in front of it in async mode ([`ClusterSpec::default_pre`]).
pub const PAPER_ASYNC: &str = "async mda alone (paper)";

/// One run of the convergence part: its name, cluster and attacks.
fn convergence_runs(plan: &Plan) -> Vec<(String, ClusterSpec)> {
    let mut runs = vec![
        ("vanilla".to_string(), vanilla(7)),
        ("async".to_string(), byzsgd("async", 5, 7)),
        ("sync".to_string(), byzsgd("sync", 5, 7)),
        (
            PAPER_ASYNC.to_string(),
            ClusterSpec {
                pre: Some("none".into()),
                ..byzsgd("async", 5, 7)
            },
        ),
    ];
    let modes: &[&str] = if plan.attacks_in_both_modes {
        &["async", "sync"]
    } else {
        &["async"]
    };
    for mode in modes {
        for attack in CONVERGENCE_ATTACKS {
            let mut spec = byzsgd(mode, 5, 7);
            spec.attack = attack.to_string();
            spec.server_attack = "equivocate".into();
            runs.push((format!("{mode} {attack} + equivocate"), spec));
        }
    }
    runs
}

/// Header of `convergence.csv`.
pub const CONVERGENCE_HEADER: &str =
    "run,mode,worker_attack,server_attack,f_w,f_ps,step,wall_seconds,test_accuracy";

/// Test accuracy over steps and wall time: vanilla, ByzSGD with no attack (both modes), and
/// ByzSGD under each attack of [`CONVERGENCE_ATTACKS`] with an equivocating server.
pub fn convergence(cx: &Context<'_>) -> Result<PartOutput> {
    let p = cx.plan;
    let runs = convergence_runs(p);
    let mut csv = format!("{CONVERGENCE_HEADER}\n");
    for (k, (name, base)) in runs.iter().enumerate() {
        eprintln!("  run {}/{}: {name}", k + 1, runs.len());
        let spec = cx.spec(base.clone(), p.convergence_steps, p.eval_every);
        let (w, s) = (spec.attack.clone(), spec.server_attack.clone());
        let (f_w, f_ps) = (spec.byz_workers, spec.byz_servers);
        for r in cx.train(name, spec.clone())?.rows {
            if let Some(acc) = r.test_accuracy {
                csv += &format!(
                    "{name},{},{w},{s},{f_w},{f_ps},{},{:.4},{acc:.5}\n",
                    spec.mode,
                    r.step + 1,
                    r.wall_seconds
                );
            }
        }
    }
    Ok(PartOutput {
        csv,
        runs: runs.len(),
        steps: runs.len() as u64 * p.convergence_steps,
    })
}

/// Header of `throughput.csv`.
pub const THROUGHPUT_HEADER: &str = "runtime,cluster,repeat,ms_per_step,updates_per_second";

/// Wall time per step of vanilla, async and sync ByzSGD in the simulator (every Byzantine slot
/// following the protocol) and, with `--runtime loopback`, as processes over TLS on loopback.
pub fn throughput(cx: &Context<'_>) -> Result<PartOutput> {
    let p = cx.plan;
    let mut csv = format!("{THROUGHPUT_HEADER}\n");
    let mut row = |runtime: &str, cluster: &str, r: usize, s: f64| {
        csv += &format!(
            "{runtime},{cluster},{},{:.3},{:.4}\n",
            r + 1,
            1e3 * s,
            1.0 / s
        );
    };
    let times = time_modes(
        &p.model,
        cx.data,
        cx.norm,
        cx.device,
        (p.batch, 7, 5),
        (p.throughput_steps, p.throughput_repeats, 0),
        &RuleArgs {
            lipschitz_slack: Some(p.lipschitz_slack),
            ..RuleArgs::default()
        },
        &mut |line| eprintln!("    sim {line}"),
    )?;
    for (mode, t) in MODES.iter().zip(&times) {
        for (r, t) in t.iter().enumerate() {
            row("sim", mode, r, t.step);
        }
    }
    let mut runs = MODES.len() * p.throughput_repeats;
    if p.runtime == "loopback" {
        let launched = Launched {
            dataset: &p.dataset,
            data_dir: cx.data_dir,
            model: &p.model,
            batch: p.batch,
            steps: p.throughput_steps.max(6),
            // As the simulator's rows: f_w = 2 declared, following the protocol.
            byz_workers: 2,
        };
        for r in 0..p.throughput_repeats {
            for mode in MODES {
                let into = cx.out.join("loopback").join(format!("{mode}-{}", r + 1));
                if into.exists() {
                    std::fs::remove_dir_all(&into)?;
                }
                let s = launched.per_step(mode, &into)?.seconds;
                eprintln!(
                    "    loopback run {}/{} {mode}: {:.1} ms/step",
                    r + 1,
                    p.throughput_repeats,
                    1e3 * s
                );
                row("loopback", mode, r, s);
                runs += 1;
            }
        }
    }
    Ok(PartOutput {
        csv,
        runs,
        steps: runs as u64 * p.throughput_steps,
    })
}

/// The cluster a matrix rule runs on: the first of async then sync with 7 workers, `f_w` 2 then
/// 1, that the rule's bound admits (async aggregates the `n_w - f_w` first gradients, sync all
/// 7), with 5 replicas (1 Byzantine, following the protocol: the matrix is about workers).
pub fn fit(rule: &str, pre: Option<&str>) -> Result<ClusterSpec> {
    let mut why = Vec::new();
    for (mode, f_w) in [("async", 2), ("async", 1), ("sync", 2), ("sync", 1)] {
        let spec = ClusterSpec {
            gar: rule.into(),
            // Alone means alone, whatever the mode's default pre-aggregation.
            pre: Some(pre.unwrap_or("none").into()),
            byz_workers: f_w,
            server_attack: "none".into(),
            ..byzsgd(mode, 5, 7)
        };
        match spec.resolve() {
            Ok(_) => return Ok(spec),
            Err(e) => why.push(format!("{mode} f_w = {f_w}: {e}")),
        }
    }
    bail!("no cluster of 7 workers fits {rule}: {}", why.join("; "))
}

/// Header of `robustness.csv`.
pub const ROBUSTNESS_HEADER: &str =
    "rule,pre,attack,mode,workers,f_w,final_test_accuracy,diverged_at_step";

/// The final accuracy of each rule (alone and behind each pre-aggregation) under each worker
/// attack, each on the cluster [`fit`] picks for it.
pub fn robustness(cx: &Context<'_>) -> Result<PartOutput> {
    let p = cx.plan;
    let mut variants: Vec<(String, Option<String>)> = Vec::new();
    for rule in &p.rules {
        variants.push((rule.clone(), None));
        for pre in &p.pre {
            variants.push((rule.clone(), Some(pre.clone())));
        }
    }
    let total = variants.len() * p.attacks.len();
    let mut csv = format!("{ROBUSTNESS_HEADER}\n");
    let mut k = 0;
    for (rule, pre) in &variants {
        let base = fit(rule, pre.as_deref())?;
        for attack in &p.attacks {
            k += 1;
            let spec = ClusterSpec {
                attack: attack.clone(),
                ..cx.spec(base.clone(), p.matrix_steps, 0)
            };
            let label = format!(
                "{}{} under {attack} ({}, f_w = {})",
                rule,
                pre.as_ref().map_or(String::new(), |p| format!(" + {p}")),
                spec.mode,
                spec.byz_workers
            );
            eprintln!("  run {k}/{total}: {label}");
            let report = cx.train(&label, spec.clone())?;
            // A diverged run (non-finite models) scores no accuracy: empty, with its step.
            let acc = match report.diverged {
                Some(_) => String::new(),
                None => report
                    .final_test_accuracy
                    .map(|a| format!("{a:.5}"))
                    .context("a matrix run scored no accuracy")?,
            };
            let diverged = report.diverged.map_or(String::new(), |s| s.to_string());
            csv += &format!(
                "{rule},{},{attack},{},7,{},{acc},{diverged}\n",
                pre.as_deref().unwrap_or(""),
                spec.mode,
                spec.byz_workers
            );
        }
    }
    Ok(PartOutput {
        csv,
        runs: total,
        steps: total as u64 * p.matrix_steps,
    })
}

/// Header of `contraction.csv`.
pub const CONTRACTION_HEADER: &str = "gathers,gather_period,step,diameter,diameter_after_gather";

/// The honest replicas' diameter over steps, async under ALIE and an equivocating server, with
/// the default gather period and with no gathers.
pub fn contraction(cx: &Context<'_>) -> Result<PartOutput> {
    let p = cx.plan;
    let mut csv = format!("{CONTRACTION_HEADER}\n");
    for (k, (label, period)) in [("with gathers", None), ("without gathers", Some(0))]
        .into_iter()
        .enumerate()
    {
        eprintln!("  run {}/2: {label}", k + 1);
        let base = ClusterSpec {
            gather_period: period,
            ..byzsgd("async", 5, 7)
        };
        let mut spec = cx.spec(base, p.contraction_steps, 0);
        spec.attack = "alie".into();
        spec.server_attack = "equivocate".into();
        let t = spec.resolve()?.shape().gather_period;
        for r in cx.train(label, spec)?.rows {
            let after = r
                .diameter_after_gather
                .map_or(String::new(), |d| format!("{d:.6e}"));
            csv += &format!(
                "{},{t},{},{:.6e},{after}\n",
                period.is_none(),
                r.step + 1,
                r.diameter
            );
        }
    }
    Ok(PartOutput {
        csv,
        runs: 2,
        steps: 2 * p.contraction_steps,
    })
}
