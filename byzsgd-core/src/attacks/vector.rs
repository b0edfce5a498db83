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
        // The paper's z for the cluster's n_w and f_w, not for the vectors this view holds.
        let n = view.workers.max(view.honest.n() + view.byzantine);
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

    /// The first honest worker's vector (rows come in worker-id order: the same worker every
    /// step, whenever its vector is in the view).
    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.honest.row(0).to_vec()
    }
}

/// A different vector to each server: the honest mean plus independent noise of `scale` times
/// the honest spread per coordinate, drawn per recipient (the replicas' drift that DMC exists to
/// correct).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquivocateWorker {
    /// Noise relative to the honest standard deviation (1.0 by default).
    pub scale: f32,
}

impl WorkerAttack for EquivocateWorker {
    fn name(&self) -> String {
        format!("equivocate:{}", self.scale)
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        let (mu, sigma) = mean_std(view.honest);
        mu.iter()
            .zip(&sigma)
            .map(|(m, s)| m + self.scale * s.max(1e-6) * normal(view.rng))
            .collect()
    }

    fn per_recipient(&self) -> bool {
        true
    }
}

/// Its own gradient under the current step, every step of the next 64 and `u64::MAX`: what a
/// flood of out-of-window messages costs a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flood;

impl WorkerAttack for Flood {
    fn name(&self) -> String {
        "flood".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        view.own.to_vec()
    }

    fn tags(&mut self, step: u64) -> Vec<u64> {
        (0..=64)
            .map(|k| step.saturating_add(k))
            .chain([u64::MAX])
            .collect()
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

    fn sends_own(&self) -> bool {
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rows;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn view<'a>(own: &'a [f32], honest: Rows<'a>, rng: &'a mut ChaCha8Rng) -> View<'a> {
        View {
            own,
            honest,
            rule: None,
            byzantine: 2,
            workers: 7,
            rng,
        }
    }

    /// An asynchronous adversary crafts from `q_w − f_w = 3` honest vectors: ALIE's `z` is still
    /// the cluster's (n = 7, f = 2: Φ⁻¹(5/7) ≈ 0.566), not that of 3 + 2 = 5 workers (0.84).
    #[test]
    fn alie_takes_z_from_the_cluster_not_from_the_vectors_seen() {
        let honest = [0.0f32, 1.0, 2.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows = Rows::new(&honest, 3, 1).unwrap();
        let v = Alie { z: None }.craft(&mut view(&honest[..1], rows, &mut rng));
        let (mu, sigma) = mean_std(rows);
        let expected = mu[0] - alie_default_z(7, 2) * sigma[0];
        assert!((v[0] - expected).abs() < 1e-6, "{} vs {expected}", v[0]);
        assert!((v[0] - (mu[0] - alie_default_z(5, 2) * sigma[0])).abs() > 0.1);
    }

    #[test]
    fn an_equivocating_worker_sends_each_server_its_own_vector() {
        let honest = [0.0f32, 1.0, 2.0, 3.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows = Rows::new(&honest, 2, 2).unwrap();
        let mut a = EquivocateWorker { scale: 1.0 };
        assert!(a.per_recipient());
        let x = a.craft(&mut view(&honest[..2], rows, &mut rng));
        let y = a.craft(&mut view(&honest[..2], rows, &mut rng));
        assert_ne!(x, y);
        assert_eq!(Flood.tags(u64::MAX - 1).last(), Some(&u64::MAX));
    }
}
