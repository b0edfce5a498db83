//! The fixed vector attacks: ALIE, FoE (inner-product manipulation), sign flip, reverse,
//! Gaussian, mimic, NaN/Inf.

use rand::Rng;

use super::stats::{alie_default_z, mean_std};
use super::{View, WorkerAttack};

/// A standard normal sample (Ziggurat: Box-Muller's `ln` and `cos` were half the time of a
/// simulated step with an equivocating server, which draws one per coordinate and recipient).
pub(crate) fn normal(rng: &mut impl Rng) -> f32 {
    rng.sample(rand_distr::StandardNormal)
}

/// "A little is enough": `μ - z σ` (coordinate-wise mean and std of the honest gradients).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alie {
    /// `z`; `None`: the ALIE paper's default for the cluster's `n` and `f`.
    pub z: Option<f32>,
}

impl WorkerAttack for Alie {
    fn name(&self) -> String {
        self.z.map_or("alie".into(), |z| format!("alie:{z}"))
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        let n = view.honest.n() + view.byzantine;
        let z = self.z.unwrap_or_else(|| alie_default_z(n, view.byzantine));
        let (mu, sigma) = mean_std(view.honest);
        mu.iter().zip(&sigma).map(|(m, s)| m - z * s).collect()
    }
}

/// "Fall of empires" / inner-product manipulation: `-ε μ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Foe {
    /// ε (0.1 by default; 10 is the strong form).
    pub eps: f32,
}

impl WorkerAttack for Foe {
    fn name(&self) -> String {
        format!("foe:{}", self.eps)
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        mean_std(view.honest)
            .0
            .iter()
            .map(|m| -self.eps * m)
            .collect()
    }
}

/// `-g` of its own honest gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignFlip;

impl WorkerAttack for SignFlip {
    fn name(&self) -> String {
        "signflip".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.own.iter().map(|g| -g).collect()
    }
}

/// `-s g` of its own honest gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reverse {
    /// s (100 by default).
    pub scale: f32,
}

impl WorkerAttack for Reverse {
    fn name(&self) -> String {
        format!("reverse:{}", self.scale)
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.own.iter().map(|g| -self.scale * g).collect()
    }
}

/// `N(0, σ²)` per coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaussian {
    /// σ (200 by default).
    pub sigma: f32,
}

impl WorkerAttack for Gaussian {
    fn name(&self) -> String {
        format!("gaussian:{}", self.sigma)
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        (0..view.own.len())
            .map(|_| self.sigma * normal(view.rng))
            .collect()
    }
}

/// A copy of the first honest worker's gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mimic;

impl WorkerAttack for Mimic {
    fn name(&self) -> String {
        "mimic".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.honest.row(0).to_vec()
    }
}

/// Every coordinate NaN, or +Inf.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFinite(pub f32);

impl WorkerAttack for NonFinite {
    fn name(&self) -> String {
        if self.0.is_nan() {
            "nan".into()
        } else {
            "inf".into()
        }
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        vec![self.0; view.own.len()]
    }
}

/// No attack: the worker's own honest gradient (a Byzantine slot that follows the protocol, for
/// baselines with the same quorums and rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Honest;

impl WorkerAttack for Honest {
    fn name(&self) -> String {
        "none".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.own.to_vec()
    }
}

/// Label flipping: a data-level attack. The worker's gradient source trains on flipped labels
/// (`label 9 − y`; [`WorkerAttack::flips_labels`]) and the worker sends that gradient as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelFlip;

impl WorkerAttack for LabelFlip {
    fn name(&self) -> String {
        "labelflip".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.own.to_vec()
    }

    fn flips_labels(&self) -> bool {
        true
    }
}
