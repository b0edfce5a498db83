//! The servers' update on host vectors: SGD with a learning-rate schedule and weight decay.
//! (Momentum is the workers': they send their velocity, see [`WorkerCore::with_momentum`].)
//!
//! [`WorkerCore::with_momentum`]: crate::protocol::WorkerCore::with_momentum

use super::schedule::LrSchedule;
use crate::protocol::Update;

/// `θ ← θ − η_t (g + λ θ)`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSgd {
    /// The schedule `η_t`.
    pub lr: LrSchedule,
    /// `λ`.
    pub weight_decay: f64,
}

impl Update for HostSgd {
    fn apply(&mut self, params: &mut [f32], aggregate: &[f32], step: u64) {
        let eta = self.lr.at(step as usize) as f32;
        let wd = self.weight_decay as f32;
        for (p, g) in params.iter_mut().zip(aggregate) {
            *p -= eta * (g + wd * *p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_with_decay_and_schedule() {
        let mut u = HostSgd {
            lr: LrSchedule::parse("step:0.5:0.1:1").unwrap(),
            weight_decay: 1.0,
        };
        let mut p = vec![1.0f32, 2.0];
        u.apply(&mut p, &[1.0, 0.0], 0); // η = 0.5: 1 − 0.5·2 = 0, 2 − 0.5·2 = 1
        assert_eq!(p, vec![0.0, 1.0]);
        u.apply(&mut p, &[1.0, 1.0], 1); // η = 0.05
        assert!(
            (p[0] + 0.05).abs() < 1e-6 && (p[1] - 0.9).abs() < 1e-6,
            "{p:?}"
        );
    }
}
