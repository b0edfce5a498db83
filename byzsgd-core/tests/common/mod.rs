//! What the simulator's tests share: a noisy quadratic as the gradient source, and a small
//! default cluster on it.
#![allow(dead_code)]

use byzsgd_core::Result;
use byzsgd_core::node::{ClusterSpec, GradientSource};
use byzsgd_core::protocol::{ClusterConfig, Mode};
use byzsgd_core::sim::{Report, Simulation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Worker `w` at step `t` sees `0.5 |θ - c|²` plus seeded noise of scale `noise` on its gradient;
/// workers in `flipped` (label flipping) aim at `-c`. Its "test accuracy" is `1 / (1 + |θ - c|)`.
#[derive(Clone)]
pub struct Quadratic {
    pub dim: usize,
    pub noise: f32,
    pub flipped: Vec<usize>,
}

impl Quadratic {
    pub fn target(&self, i: usize) -> f32 {
        1.0 + (i % 5) as f32
    }
}

impl GradientSource for Quadratic {
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_params(&self) -> Vec<f32> {
        vec![0.0; self.dim]
    }
    fn gradient(&mut self, w: usize, t: u64, p: &[f32]) -> Result<(Vec<f32>, f32)> {
        let mut rng = ChaCha8Rng::seed_from_u64(t * 1000 + w as u64);
        let sign = if self.flipped.contains(&w) { -1.0 } else { 1.0 };
        let g: Vec<f32> = p
            .iter()
            .enumerate()
            .map(|(i, x)| x - sign * self.target(i) + self.noise * (rng.random::<f32>() - 0.5))
            .collect();
        let loss = g.iter().map(|v| 0.5 * v * v).sum();
        Ok((g, loss))
    }
    fn evaluate(&mut self, p: &[f32]) -> Result<Option<f64>> {
        let d: f32 = p
            .iter()
            .enumerate()
            .map(|(i, x)| (x - self.target(i)).powi(2))
            .sum();
        Ok(Some(1.0 / (1.0 + d.sqrt() as f64)))
    }
    fn fork(&self) -> Box<dyn GradientSource> {
        Box::new(self.clone())
    }
}

pub fn base() -> ClusterSpec {
    ClusterSpec {
        steps: 60,
        lr: "0.1".into(),
        momentum: 0.0,
        eval_every: 20,
        threads: 2,
        gather_period: Some(5),
        ..ClusterSpec::default()
    }
}

pub fn quadratic(dim: usize, noise: f32) -> Box<Quadratic> {
    Box::new(Quadratic {
        dim,
        noise,
        flipped: Vec::new(),
    })
}

pub fn run(cfg: ClusterSpec, noise: f32) -> Result<Report> {
    Simulation::new(cfg.resolve()?, quadratic(20, noise)).run(&mut |_| {})
}

pub fn distance_to_target(p: &[f32]) -> f32 {
    let q = quadratic(0, 0.0);
    p.iter()
        .enumerate()
        .map(|(i, x)| (x - q.target(i)).powi(2))
        .sum::<f32>()
        .sqrt()
}

/// The paper's smallest cluster with both kinds of Byzantine nodes: 5 replicas (1 Byzantine),
/// 7 workers (2 Byzantine), gathering every `gather_period` steps.
pub fn cluster(mode: Mode, gather_period: u64) -> ClusterConfig {
    ClusterConfig {
        n_ps: 5,
        f_ps: 1,
        n_w: 7,
        f_w: 2,
        gather_period,
        mode,
    }
}
