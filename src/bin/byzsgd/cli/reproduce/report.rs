//! `OUT/REPORT.md` and its plots, made from the parts' CSVs and `reproduce.json` alone (so a
//! resumed reproduction reports the parts it ran earlier exactly as it measured them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::parts::{
    CONTRACTION_HEADER, CONVERGENCE_HEADER, PAPER_ASYNC, ROBUSTNESS_HEADER, THROUGHPUT_HEADER,
};
use super::{PARTS, State};
use crate::cli::plot::{Chart, Series, heat_map, line_chart};
use crate::cli::stats::{median, spread};

/// A CSV's rows as maps from column to cell; its header must be `expected` (the part's own), so
/// that a file from another version or edited by hand is an error, not a missing column later.
fn read_csv(path: &Path, expected: &str) -> Result<Vec<BTreeMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let first = lines.next().context("an empty CSV")?;
    if first != expected {
        bail!(
            "{}: columns {first:?}, expected {expected:?} (remove the file to rerun its part)",
            path.display()
        );
    }
    let header: Vec<&str> = first.split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            if cells.len() != header.len() {
                bail!(
                    "{}: {l:?} has {} cells, the header {}",
                    path.display(),
                    cells.len(),
                    header.len()
                );
            }
            Ok(header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect())
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, key: &str) -> f64 {
    row.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", 100.0 * v)
    } else {
        "n/a".into()
    }
}

fn overhead(v: f64, base: f64) -> String {
    if v.is_finite() && base.is_finite() && base > 0.0 {
        format!("{:+.1}%", 100.0 * (v / base - 1.0))
    } else {
        "n/a".into()
    }
}

/// The machine: CPU model and cores, from `/proc/cpuinfo`.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The commit of the working directory's checkout, marked when it has local changes.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(c)
            if git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()) =>
        {
            format!("{c} (with local changes)")
        }
        Some(c) => c,
        None => format!(
            "unknown (not run in a git checkout; byzsgd {})",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// Writes `OUT/REPORT.md` and its plots; returns the report's path.
pub fn write(out: &Path, state: &State) -> Result<PathBuf> {
    let p = &state.plan;
    let tag = if p.synthetic { " (synthetic)" } else { "" };
    let mut md = String::new();
    let data = match (&p.data_dir, p.synthetic) {
        (Some(d), true) => format!(
            "generated images in the {} format from `{d}` (**synthetic**: not the real data set)",
            p.dataset
        ),
        (Some(d), false) => format!("{} from `{d}`", p.dataset),
        (None, _) => format!("{} from its default location", p.dataset),
    };
    let gpu = match p.device.as_str() {
        "flex" | "ndarray" => "none used (CPU backend)".to_string(),
        d => format!("{d} device (see the machine's GPU)"),
    };
    writeln!(
        md,
        "# ByzSGD reproduction: {} with {}{}\n",
        p.dataset,
        p.model,
        if p.quick { ", quick" } else { "" }
    )?;
    writeln!(md, "- Command: `{}`", state.command)?;
    let mut commits: Vec<&str> = state.parts.values().map(|d| d.commit.as_str()).collect();
    commits.sort_unstable();
    commits.dedup();
    commits.retain(|c| !c.is_empty());
    let measured = match commits.as_slice() {
        [] => String::new(),
        [one] => format!("; measured at `{one}`"),
        many => format!("; parts measured at `{}`", many.join("`, `")),
    };
    writeln!(md, "- Commit: `{}` (this report){measured}", commit())?;
    writeln!(
        md,
        "- Machine: {}; GPU: {gpu}; device `{}`",
        machine(),
        p.device
    )?;
    writeln!(
        md,
        "- Data: {data}; {} training and {} test images used; batch {} per worker; worker momentum {}; sync Lipschitz filter slack {} (1: the paper's); seed {}",
        p.train_images
            .map_or("all".into(), |n| format!("the first {n}")),
        p.test_images
            .map_or("all".into(), |n| format!("the first {n}")),
        p.batch,
        p.momentum,
        p.lipschitz_slack,
        p.seed
    )?;
    writeln!(
        md,
        "- Cluster: 5 replicas and 7 workers unless a table says otherwise; the largest f the bounds allow: f_ps = 1, f_w = 2\n"
    )?;
    writeln!(
        md,
        "| part | runs | steps | wall time |\n| --- | --- | --- | --- |"
    )?;
    for part in PARTS {
        match state.parts.get(part) {
            Some(d) => writeln!(
                md,
                "| {part} | {} | {} | {:.1} s |",
                d.runs, d.steps, d.wall_seconds
            )?,
            None => writeln!(md, "| {part} | not run | | |")?,
        }
    }
    md.push('\n');
    let csv = |part: &str| out.join(format!("{part}.csv"));
    if csv("convergence").exists() {
        convergence(&mut md, out, state, tag)?;
    }
    if csv("throughput").exists() {
        throughput(&mut md, out, tag)?;
    }
    if csv("robustness").exists() {
        robustness(&mut md, out, tag)?;
    }
    if csv("contraction").exists() {
        contraction(&mut md, out, tag)?;
    }
    writeln!(
        md,
        "Every measured row is in `convergence.csv`, `throughput.csv`, `robustness.csv` and `contraction.csv` beside this report; plots are SVG and PNG."
    )?;
    let path = out.join("REPORT.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The first row of `rows` at or above `target`: (step, wall seconds).
fn reached(rows: &[&BTreeMap<String, String>], target: f64) -> (f64, f64) {
    rows.iter()
        .find(|r| num(r, "test_accuracy") >= target)
        .map_or((f64::NAN, f64::NAN), |r| {
            (num(r, "step"), num(r, "wall_seconds"))
        })
}

fn convergence(md: &mut String, out: &Path, state: &State, tag: &str) -> Result<()> {
    let rows = read_csv(&out.join("convergence.csv"), CONVERGENCE_HEADER)?;
    let mut runs: Vec<(String, Vec<&BTreeMap<String, String>>)> = Vec::new();
    for r in &rows {
        let name = &r["run"];
        match runs.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(r),
            None => runs.push((name.clone(), vec![r])),
        }
    }
    let best = |name: &str| {
        runs.iter()
            .find(|(n, _)| n == name)
            .map_or(f64::NAN, |(_, v)| {
                v.iter()
                    .map(|r| num(r, "test_accuracy"))
                    .fold(f64::NAN, f64::max)
            })
    };
    let (target, how) = match state.plan.target {
        Some(t) => (t, "given".to_string()),
        None => {
            let t = (90.0 * best("vanilla")).floor() / 100.0;
            (
                t,
                "90% of vanilla's best accuracy, rounded down (--quick)".to_string(),
            )
        }
    };
    writeln!(md, "## Convergence{tag}\n")?;
    writeln!(
        md,
        "Steps and wall time to a test accuracy of **{}** ({how}). The overheads are against vanilla SGD (one trusted server, no Byzantine worker); the attacked runs have an equivocating server besides the worker attack. ByzSGD runs byzsgd's defaults (in async mode, nearest-neighbour mixing in front of MDA; in sync mode, the Lipschitz filter at twice its percentile); `{PAPER_ASYNC}` runs the paper's rule, MDA alone.\n",
        pct(target)
    )?;
    writeln!(
        md,
        "| run | steps to {0} | seconds to {0} | best accuracy | overhead, steps | overhead, wall time | paper |",
        pct(target)
    )?;
    writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |")?;
    let (vs, vw) = runs
        .iter()
        .find(|(n, _)| n == "vanilla")
        .map_or((f64::NAN, f64::NAN), |(_, v)| reached(v, target));
    for (name, v) in &runs {
        let (s, w) = reached(v, target);
        let paper = match name.as_str() {
            "vanilla" => "baseline",
            "async" | "sync" | PAPER_ASYNC => "about +32% (steps)",
            _ => "not in the paper",
        };
        let fmt = |x: f64, d: usize| {
            if x.is_finite() {
                format!("{x:.d$}")
            } else {
                "not reached".into()
            }
        };
        let (os, ow) = if name == "vanilla" {
            (String::new(), String::new())
        } else {
            (overhead(s, vs), overhead(w, vw))
        };
        writeln!(
            md,
            "| {name} | {} | {} | {} | {os} | {ow} | {paper} |",
            fmt(s, 0),
            fmt(w, 1),
            pct(best(name))
        )?;
    }
    let series = |x: &str| -> Vec<Series> {
        runs.iter()
            .map(|(n, v)| Series {
                name: n.clone(),
                points: v
                    .iter()
                    .map(|r| (num(r, x), 100.0 * num(r, "test_accuracy")))
                    .collect(),
            })
            .collect()
    };
    let t1 = format!("Test accuracy over steps{tag}");
    let t2 = format!("Test accuracy over wall time{tag}");
    line_chart(
        &out.join("convergence_steps"),
        Chart::new(&t1, "step", "test accuracy (%)").legend_low(),
        &series("step"),
    )?;
    line_chart(
        &out.join("convergence_time"),
        Chart::new(&t2, "wall seconds", "test accuracy (%)").legend_low(),
        &series("wall_seconds"),
    )?;
    writeln!(
        md,
        "\n![accuracy over steps](convergence_steps.svg)\n![accuracy over time](convergence_time.svg)\n"
    )?;
    Ok(())
}

fn throughput(md: &mut String, out: &Path, tag: &str) -> Result<()> {
    let rows = read_csv(&out.join("throughput.csv"), THROUGHPUT_HEADER)?;
    writeln!(md, "## Throughput{tag}\n")?;
    writeln!(
        md,
        "Model updates per second, median over the repeats; every Byzantine slot follows the protocol (f_ps = 1, f_w = 2 declared), so only the protocol's own cost is measured. `sim`: the in-process simulator; `loopback` (with `--runtime loopback`): every node a process, over mutual TLS on loopback. Either way every node shares this machine's cores, and the smaller the model, the more the protocol's fixed cost per step (medians, aggregations, copies of every vector) weighs against the gradient time.\n"
    )?;
    writeln!(
        md,
        "| runtime | cluster | ms per step | updates per second | overhead | paper |\n| --- | --- | --- | --- | --- | --- |"
    )?;
    for runtime in ["sim", "loopback"] {
        let ms = |cluster: &str| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r["runtime"] == runtime && r["cluster"] == cluster)
                .map(|r| num(r, "ms_per_step"))
                .collect();
            (!v.is_empty()).then(|| median(v))
        };
        let Some(base) = ms("vanilla") else { continue };
        for (cluster, paper) in [
            ("vanilla", "baseline"),
            ("async", "28–220%"),
            ("sync", "24–176%"),
        ] {
            if let Some(t) = ms(cluster) {
                let o = if cluster == "vanilla" {
                    String::new()
                } else {
                    overhead(t, base)
                };
                writeln!(
                    md,
                    "| {runtime} | {cluster} | {t:.1} | {:.2} | {o} | {paper} |",
                    1e3 / t
                )?;
            }
        }
    }
    md.push('\n');
    Ok(())
}

/// A matrix row's rule with its pre-aggregation: `mda`, `mda + nnm`.
fn variant(r: &BTreeMap<String, String>) -> String {
    match r["pre"].as_str() {
        "" => r["rule"].clone(),
        pre => format!("{} + {pre}", r["rule"]),
    }
}

fn robustness(md: &mut String, out: &Path, tag: &str) -> Result<()> {
    let rows = read_csv(&out.join("robustness.csv"), ROBUSTNESS_HEADER)?;
    let mut names: Vec<(String, String)> = Vec::new();
    let mut attacks: Vec<String> = Vec::new();
    for r in &rows {
        let name = variant(r);
        let cluster = format!("{}, n_w = {}, f_w = {}", r["mode"], r["workers"], r["f_w"]);
        if !names.iter().any(|(n, _)| *n == name) {
            names.push((name, cluster));
        }
        if !attacks.contains(&r["attack"]) {
            attacks.push(r["attack"].clone());
        }
    }
    let find = |name: &str, attack: &str| {
        rows.iter()
            .find(|r| variant(r) == name && r["attack"] == attack)
    };
    // A diverged run shows as "diverged" and counts as 0 in the heat map.
    let value = |name: &str, attack: &str| {
        find(name, attack).map(|r| {
            if r["diverged_at_step"].is_empty() {
                num(r, "final_test_accuracy")
            } else {
                0.0
            }
        })
    };
    let diverged = |name: &str, attack: &str| {
        find(name, attack).is_some_and(|r| !r["diverged_at_step"].is_empty())
    };
    writeln!(md, "## Robustness matrix{tag}\n")?;
    writeln!(
        md,
        "Final test accuracy of each rule under each worker attack (not in the paper; no peer ships it in one command). Each rule runs on the first cluster its bound admits: async then sync, f_w = 2 then 1 (the cluster column); no server attack. Where a rule aggregates 2f + 1 inputs (async with n_w = 7, f_w = 2 aggregates 5), the trimmed mean keeps one value per coordinate, the median: their rows then match.\n"
    )?;
    writeln!(md, "| rule | cluster | {} |", attacks.join(" | "))?;
    writeln!(md, "| --- | --- |{}", " --- |".repeat(attacks.len()))?;
    let mut grid = Vec::new();
    for (name, cluster) in &names {
        let cells: Vec<(f64, String)> = attacks
            .iter()
            .map(|a| match (value(name, a), diverged(name, a)) {
                (_, true) => (0.0, "diverged".to_string()),
                (Some(v), false) => (v, pct(v)),
                (None, false) => (f64::NAN, "n/a".to_string()),
            })
            .collect();
        let shown: Vec<&str> = cells.iter().map(|c| c.1.as_str()).collect();
        writeln!(md, "| {name} | {cluster} | {} |", shown.join(" | "))?;
        grid.push(cells);
    }
    let labels: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
    heat_map(
        &out.join("robustness"),
        &format!("Final test accuracy by rule and attack{tag}"),
        &labels,
        &attacks,
        &grid,
    )?;
    writeln!(md, "\n![robustness matrix](robustness.svg)\n")?;
    Ok(())
}

fn contraction(md: &mut String, out: &Path, tag: &str) -> Result<()> {
    let rows = read_csv(&out.join("contraction.csv"), CONTRACTION_HEADER)?;
    writeln!(md, "## Contraction{tag}\n")?;
    writeln!(
        md,
        "The honest replicas' diameter (largest L2 distance between two honest models after each update), async under ALIE and an equivocating server, with the default gather period T and with no gathers (not in the paper as a figure).\n"
    )?;
    writeln!(
        md,
        "| gathers | T | mean diameter | largest | at the end |\n| --- | --- | --- | --- | --- |"
    )?;
    let mut series = Vec::new();
    for (flag, label) in [("true", "with gathers"), ("false", "without gathers")] {
        let v: Vec<&BTreeMap<String, String>> =
            rows.iter().filter(|r| r["gathers"] == flag).collect();
        let d: Vec<f64> = v
            .iter()
            .map(|r| num(r, "diameter"))
            .filter(|x| x.is_finite())
            .collect();
        if d.is_empty() {
            continue;
        }
        let (mean, _, _, max) = spread(&d);
        writeln!(
            md,
            "| {label} | {} | {mean:.3e} | {max:.3e} | {:.3e} |",
            v[0]["gather_period"],
            d[d.len() - 1]
        )?;
        series.push(Series {
            name: label.into(),
            points: v
                .iter()
                .map(|r| (num(r, "step"), num(r, "diameter")))
                .collect(),
        });
        if flag == "true" {
            series.push(Series {
                name: "right after each gather".into(),
                points: v
                    .iter()
                    .map(|r| (num(r, "step"), num(r, "diameter_after_gather")))
                    .filter(|p| p.1.is_finite())
                    .collect(),
            });
        }
    }
    let title = format!("Honest replicas' diameter{tag}");
    line_chart(
        &out.join("contraction"),
        Chart::new(&title, "step", "largest L2 distance").log_if_decades(&series),
        &series,
    )?;
    writeln!(md, "\n![contraction](contraction.svg)\n")?;
    Ok(())
}
