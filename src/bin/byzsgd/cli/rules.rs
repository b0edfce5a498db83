//! `byzsgd rules`: every built-in aggregation rule with its resilience bound, and the
//! pre-aggregations that compose with any of them; with `--check`, the conformance suite run on
//! a device (the rules' tensor-op path, the one a GPU runs) and compared with the host kernels.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use byzsgd_core::Exec;
use byzsgd_core::registry::{Guarantee, PRE_AGGREGATIONS, RULES};
use byzsgd_core::testing::{Suite, paths_agree};

/// Arguments of `byzsgd rules`.
#[derive(Debug, Clone, clap::Args)]
pub struct RulesArgs {
    /// Run the conformance suite on every rule's tensor-op path on --device (and NNM in front
    /// of every robust rule), and compare it with the host kernels; exit status 1 on a failure.
    #[arg(long)]
    pub check: bool,
    /// The device --check runs on (flex, ndarray, wgpu).
    #[arg(long, default_value = "flex", requires = "check")]
    pub device: String,
    /// Generated cases per property of the suite (the host comparison runs 12 seeds).
    #[arg(long, default_value_t = 16, requires = "check")]
    pub cases: u32,
}

/// `byzsgd rules`: the table, or with `--check` the suite on a device.
pub fn run(args: &RulesArgs, out: &mut impl Write) -> Result<()> {
    if args.check {
        check(args, out)
    } else {
        table(out)
    }
}

/// Runs the suite and the host comparison for every rule (and NNM before every robust rule) on
/// the device, one line each, and fails naming every rule that failed.
fn check(args: &RulesArgs, out: &mut impl Write) -> Result<()> {
    if args.cases == 0 {
        bail!("--cases 0 checks nothing: give 1 or more");
    }
    let device = byzsgd_burn::parse_device(&args.device)?;
    // The reference: the host kernels on the first CPU backend compiled in.
    let host =
        byzsgd_burn::parse_device("flex").or_else(|_| byzsgd_burn::parse_device("ndarray"))?;
    writeln!(
        out,
        "the rules' tensor ops on {} ({device:?}): the conformance suite ({} cases a property) \
         and the host kernels' results (12 seeds)",
        args.device, args.cases
    )?;
    let mut failed = Vec::new();
    let pres = RULES.iter().map(|r| (r.name, None)).chain(
        RULES
            .iter()
            .filter(|r| r.guarantee != Guarantee::None)
            .map(|r| (r.name, Some("nnm"))),
    );
    for (name, pre) in pres {
        let label = match pre {
            Some(p) => format!("{p}+{name}"),
            None => name.to_string(),
        };
        let start = Instant::now();
        let suite = Suite::builtin(name, pre, Exec::TensorOps)?
            .with_device(device.clone())
            .with_cases(args.cases)
            .check();
        let agree = paths_agree(name, pre, &host, &device, 0..12);
        let verdict = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "FAILED" };
        writeln!(
            out,
            "{label:24} suite {:6}  host kernels {:6}  {:.1} s",
            verdict(&suite),
            verdict(&agree),
            start.elapsed().as_secs_f64()
        )?;
        for e in [suite, agree].into_iter().filter_map(Result::err) {
            writeln!(out, "  {e}")?;
            failed.push(label.clone());
        }
    }
    if !failed.is_empty() {
        failed.dedup();
        bail!("on {}: {} failed", args.device, failed.join(", "));
    }
    writeln!(out, "every rule passed on {}", args.device)?;
    Ok(())
}

/// Prints the table of rules and pre-aggregations to `out`.
fn table(out: &mut impl Write) -> Result<()> {
    let name_width = RULES
        .iter()
        .map(|r| r.name.len())
        .chain(PRE_AGGREGATIONS.iter().map(|p| p.0.len()))
        .max();
    let name_width = name_width.unwrap_or(4).max("rule".len());
    let bounds: Vec<String> = RULES.iter().map(|r| format!("n >= {}", r.bound)).collect();
    let bound_width = bounds
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("bound".len());
    writeln!(
        out,
        "{:name_width$}  {:bound_width$}  summary",
        "rule", "bound"
    )?;
    for (rule, bound) in RULES.iter().zip(&bounds) {
        writeln!(
            out,
            "{:name_width$}  {bound:bound_width$}  {}",
            rule.name, rule.summary
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "pre-aggregations (--pre NAME, composes with any rule):"
    )?;
    for (name, summary) in PRE_AGGREGATIONS {
        writeln!(out, "{name:name_width$}  {summary}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_rule_with_its_bound() {
        let mut out = Vec::new();
        table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for rule in RULES {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(rule.name))
                .unwrap();
            assert!(line.contains(&format!("n >= {}", rule.bound)), "{line}");
        }
        assert!(text.contains("nnm"));
    }
}
