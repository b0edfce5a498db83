//! The `n >= a*f + b` bounds of ALGORITHMS.md, checked once when a rule is built.

use crate::{Error, Result};

/// A linear resilience bound `n >= a*f + b` on the number of inputs `n` for `f` Byzantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Coefficient of `f`.
    pub a: usize,
    /// Constant term.
    pub b: usize,
}

impl Bound {
    /// `n >= a*f + b`.
    pub const fn new(a: usize, b: usize) -> Self {
        Self { a, b }
    }

    /// The smallest number of inputs allowed with `f` Byzantine.
    pub const fn min_inputs(&self, f: usize) -> usize {
        self.a * f + self.b
    }

    /// Refuses `(n, f)` outside the bound with an error naming `rule`, the bound and the numbers.
    pub fn check(&self, rule: &str, n: usize, f: usize) -> Result<()> {
        let min = self.min_inputs(f);
        if n >= min && n > 0 {
            Ok(())
        } else {
            Err(Error::Bound {
                rule: rule.to_string(),
                bound: self.to_string(),
                n,
                f,
                min: min.max(1),
            })
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.a, self.b) {
            (0, b) => write!(out, "{b}"),
            (1, 0) => write!(out, "f"),
            (a, 0) => write!(out, "{a}f"),
            (1, b) => write!(out, "f+{b}"),
            (a, b) => write!(out, "{a}f+{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_below_and_names_the_numbers() {
        let krum = Bound::new(2, 3);
        assert!(krum.check("krum", 7, 2).is_ok());
        let err = krum.check("krum", 6, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "krum needs n >= 2f+3 inputs for f = 2 Byzantine (at least 7), but got n = 6"
        );
        assert!(Bound::new(0, 1).check("average", 0, 0).is_err());
    }
}
