//! `byzsgd rules`: every built-in aggregation rule with its resilience bound, and the
//! pre-aggregations that compose with any of them.

use std::io::Write;

use anyhow::Result;
use byzsgd_core::registry::{PRE_AGGREGATIONS, RULES};

/// Prints the table of rules and pre-aggregations to `out`.
pub fn run(out: &mut impl Write) -> Result<()> {
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
        run(&mut out).unwrap();
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
