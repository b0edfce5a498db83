//! A server's update from a flat aggregate: SGD with optional momentum (applied at the server or
//! at the workers) and weight decay, on flat `Tensor<1>` parameters, with a learning-rate
//! schedule. Everything stays on the parameters' device.

use burn::tensor::Tensor;

use crate::{BurnError, LrSchedule, Result};

/// Where momentum is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MomentumAt {
    /// The server keeps the velocity of the aggregated gradient.
    #[default]
    Server,
    /// Each worker sends its own momentum instead of its raw gradient (a defence the literature
    /// uses: it lowers the variance the robust rule sees); see [`ServerOptimizer::worker_momentum`].
    Worker,
}

/// Configuration of [`ServerOptimizer`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptimizerConfig {
    /// Learning-rate schedule.
    pub lr: LrSchedule,
    /// Momentum coefficient in `[0, 1)`; 0 disables it.
    pub momentum: f64,
    /// Where momentum is applied.
    pub momentum_at: MomentumAt,
    /// L2 weight decay added to the gradient (`g + wd θ`).
    pub weight_decay: f64,
}

impl ServerOptimizerConfig {
    /// Plain SGD with schedule `lr`.
    pub fn new(lr: LrSchedule) -> Self {
        Self {
            lr,
            momentum: 0.0,
            momentum_at: MomentumAt::Server,
            weight_decay: 0.0,
        }
    }

    /// Momentum `mu` applied at `at`.
    pub fn with_momentum(mut self, mu: f64, at: MomentumAt) -> Self {
        self.momentum = mu;
        self.momentum_at = at;
        self
    }

    /// L2 weight decay.
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Checks the values and builds the optimizer.
    pub fn init(&self) -> Result<ServerOptimizer> {
        self.lr.validate()?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(BurnError::Config(format!(
                "momentum must be in [0, 1), got {}",
                self.momentum
            )));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(BurnError::Config(format!(
                "weight decay must be >= 0, got {}",
                self.weight_decay
            )));
        }
        Ok(ServerOptimizer {
            config: self.clone(),
            velocity: None,
        })
    }
}

/// SGD on flat parameters, built by [`ServerOptimizerConfig`].
#[derive(Debug, Clone)]
pub struct ServerOptimizer {
    config: ServerOptimizerConfig,
    velocity: Option<Tensor<1>>,
}

impl ServerOptimizer {
    /// `θ ← θ - η_t u`, with `u` the aggregate plus weight decay, through server momentum if
    /// configured. Returns the new parameters.
    pub fn step(&mut self, params: Tensor<1>, aggregate: Tensor<1>, t: usize) -> Result<Tensor<1>> {
        let ([p], [a]) = (params.dims(), aggregate.dims());
        if p != a {
            return Err(BurnError::Dimension {
                expected: p,
                got: a,
            });
        }
        let mut update = aggregate;
        if self.config.weight_decay > 0.0 {
            update = update + params.clone().mul_scalar(self.config.weight_decay);
        }
        if self.config.momentum > 0.0 && self.config.momentum_at == MomentumAt::Server {
            update = self.accumulate(update);
        }
        Ok(params - update.mul_scalar(self.config.lr.at(t)))
    }

    /// For [`MomentumAt::Worker`]: the vector a worker sends for gradient `g` (its updated
    /// velocity). The identity otherwise.
    pub fn worker_momentum(&mut self, g: Tensor<1>) -> Tensor<1> {
        if self.config.momentum > 0.0 && self.config.momentum_at == MomentumAt::Worker {
            self.accumulate(g)
        } else {
            g
        }
    }

    fn accumulate(&mut self, g: Tensor<1>) -> Tensor<1> {
        let v = match self.velocity.take() {
            Some(v) => v.mul_scalar(self.config.momentum) + g,
            None => g,
        };
        self.velocity = Some(v.clone());
        v
    }

    /// The configuration.
    pub fn config(&self) -> &ServerOptimizerConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn sgd_momentum_and_weight_decay_follow_the_update_rule() {
        let device = Device::flex();
        let theta = Tensor::<1>::from_floats([1.0, -2.0], &device);
        let g = Tensor::<1>::from_floats([0.5, 0.5], &device);
        let mut plain = ServerOptimizerConfig::new(LrSchedule::Constant(0.1))
            .init()
            .unwrap();
        assert_eq!(
            values(plain.step(theta.clone(), g.clone(), 0).unwrap()),
            vec![0.95, -2.05]
        );

        let mut momentum = ServerOptimizerConfig::new(LrSchedule::Constant(0.1))
            .with_momentum(0.9, MomentumAt::Server)
            .init()
            .unwrap();
        let t1 = momentum.step(theta.clone(), g.clone(), 0).unwrap();
        let t2 = values(momentum.step(t1, g.clone(), 1).unwrap());
        // v1 = g, v2 = 0.9 g + g = 1.9 g: θ2 = θ - 0.1 (g + 1.9 g) = θ - 0.29 g.
        assert!(
            (t2[0] - (1.0 - 0.145)).abs() < 1e-6 && (t2[1] - (-2.0 - 0.145)).abs() < 1e-6,
            "{t2:?}"
        );

        let mut wd = ServerOptimizerConfig::new(LrSchedule::Constant(0.1))
            .with_weight_decay(0.5)
            .init()
            .unwrap();
        let out = values(wd.step(theta, g, 0).unwrap());
        assert!((out[0] - (1.0 - 0.1 * (0.5 + 0.5))).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn refuses_bad_values_and_mismatched_lengths() {
        assert!(
            ServerOptimizerConfig::new(LrSchedule::Constant(0.1))
                .with_momentum(1.0, MomentumAt::Server)
                .init()
                .is_err()
        );
        let device = Device::flex();
        let mut sgd = ServerOptimizerConfig::new(LrSchedule::Constant(0.1))
            .init()
            .unwrap();
        let err = sgd
            .step(Tensor::zeros([3], &device), Tensor::zeros([2], &device), 0)
            .unwrap_err();
        assert_eq!(
            err,
            BurnError::Dimension {
                expected: 3,
                got: 2
            }
        );
    }
}
