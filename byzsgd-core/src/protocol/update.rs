//! How a server turns an aggregate into new parameters: a small trait the Burn glue implements
//! (SGD with momentum and schedules on the device), so the protocol needs no Burn training code.

/// Applies an aggregated gradient to a server's flat parameters.
pub trait Update: Send + std::fmt::Debug {
    /// `params ← update(params, aggregate)` at `step`.
    fn apply(&mut self, params: &mut [f32], aggregate: &[f32], step: u64);

    /// Its state, for a snapshot (none by default: SGD on a schedule is a function of the step;
    /// momentum is the workers').
    fn state(&self) -> Vec<f32> {
        Vec::new()
    }

    /// Restores a state from [`state`](Self::state).
    fn set_state(&mut self, state: &[f32]) -> crate::Result<()> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Input(format!(
                "this update keeps no state, but the snapshot holds {} values",
                state.len()
            )))
        }
    }
}

/// Plain SGD with a constant learning rate, in host memory: tests and toy problems.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlainSgd {
    /// Learning rate.
    pub lr: f32,
}

impl Update for PlainSgd {
    fn apply(&mut self, params: &mut [f32], aggregate: &[f32], _step: u64) {
        for (p, g) in params.iter_mut().zip(aggregate) {
            *p -= self.lr * g;
        }
    }
}
