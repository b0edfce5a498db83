//! Learning-rate schedules: constant, step decay, and `lr0 / (1 + t / decay)`.

use crate::{Error, Result};

/// The learning rate at step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// `lr` at every step.
    Constant(f64),
    /// `lr0 * gamma^(t / every)`.
    Step {
        /// Initial rate.
        lr0: f64,
        /// Factor applied every `every` steps.
        gamma: f64,
        /// Steps between decays.
        every: usize,
    },
    /// `lr0 / (1 + t / decay)`.
    InverseTime {
        /// Initial rate.
        lr0: f64,
        /// Steps over which the rate halves first.
        decay: f64,
    },
}

impl From<f64> for LrSchedule {
    fn from(lr: f64) -> Self {
        LrSchedule::Constant(lr)
    }
}

impl LrSchedule {
    /// The rate at step `t` (0-based).
    pub fn at(&self, t: usize) -> f64 {
        match *self {
            LrSchedule::Constant(lr) => lr,
            LrSchedule::Step { lr0, gamma, every } => lr0 * gamma.powi((t / every) as i32),
            LrSchedule::InverseTime { lr0, decay } => lr0 / (1.0 + t as f64 / decay),
        }
    }

    /// The initial rate.
    pub fn base(&self) -> f64 {
        self.at(0)
    }

    /// Parses `0.1`, `constant:0.1`, `step:0.1:0.5:100` or `inverse:0.1:1000`.
    pub fn parse(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let num = |s: &str| {
            s.parse::<f64>().map_err(|_| {
                Error::Config(format!(
                    "learning-rate schedule {text:?}: {s:?} is not a number"
                ))
            })
        };
        let schedule = match parts.as_slice() {
            [lr] | ["constant", lr] => LrSchedule::Constant(num(lr)?),
            ["step", lr0, gamma, every] => LrSchedule::Step {
                lr0: num(lr0)?,
                gamma: num(gamma)?,
                every: every
                    .parse()
                    .map_err(|_| Error::Config(format!("step schedule: every = {every:?}")))?,
            },
            ["inverse", lr0, decay] => LrSchedule::InverseTime {
                lr0: num(lr0)?,
                decay: num(decay)?,
            },
            _ => {
                return Err(Error::Config(format!(
                    "unknown learning-rate schedule {text:?}; use LR, constant:LR, step:LR0:GAMMA:EVERY or inverse:LR0:DECAY"
                )));
            }
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Refuses non-positive or non-finite rates and degenerate decays.
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            LrSchedule::Constant(lr) => lr > 0.0 && lr.is_finite(),
            LrSchedule::Step { lr0, gamma, every } => {
                lr0 > 0.0 && lr0.is_finite() && gamma > 0.0 && gamma <= 1.0 && every > 0
            }
            LrSchedule::InverseTime { lr0, decay } => {
                lr0 > 0.0 && lr0.is_finite() && decay > 0.0 && decay.is_finite()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "invalid learning rate {self:?}: rates must be finite and > 0, a step decay's \
                 gamma in (0, 1] and its period > 0, an inverse-time decay > 0"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas() {
        assert_eq!(LrSchedule::parse("0.1").unwrap().at(1000), 0.1);
        let step = LrSchedule::parse("step:0.1:0.5:100").unwrap();
        assert_eq!(
            (step.at(99), step.at(100), step.at(250)),
            (0.1, 0.05, 0.025)
        );
        let inv = LrSchedule::parse("inverse:0.1:1000").unwrap();
        assert!((inv.at(1000) - 0.05).abs() < 1e-12);
        assert!(LrSchedule::parse("step:0.1:2:10").is_err());
        assert!(LrSchedule::parse("-1").is_err());
        assert!(LrSchedule::parse("cosine:1").is_err());
    }
}
