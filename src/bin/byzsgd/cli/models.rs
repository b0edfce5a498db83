//! `byzsgd models`: every model with its input shape and exact parameter count.

use std::io::Write;

use anyhow::Result;
use byzsgd_models::MODELS;

/// Prints the models table to `out`.
pub fn run(out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "{:<10}  {:<10}  {:>12}  description",
        "model", "input", "parameters"
    )?;
    for m in MODELS {
        let [c, h, w] = m.input;
        let params = group_thousands(m.params);
        writeln!(
            out,
            "{:<10}  {:<10}  {:>12}  {}",
            m.name,
            format!("{c}x{h}x{w}"),
            params,
            m.summary
        )?;
    }
    Ok(())
}

/// `1756426` as `1,756,426`.
fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_model_with_its_exact_count() {
        let mut out = Vec::new();
        run(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("cifarnet    3x32x32        1,756,426"),
            "{text}"
        );
        assert!(
            text.contains("mlp         1x28x28           79,510"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + MODELS.len());
    }
}
