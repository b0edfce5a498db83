//! Byzantine nodes as wrappers over correct ones: a [`ByzantineServer`] is a correct
//! [`ServerCore`] whose outgoing models pass through a [`ServerAttack`], a [`ByzantineWorker`] a
//! correct [`WorkerCore`] whose outgoing gradients pass through a [`WorkerAttack`]. Everything
//! else (what they receive, their own state) is the correct machine's, so an attack sees what a
//! correct node would send. A Byzantine worker sees only its own gradient, as over a real
//! network; the simulator's omniscient adversary, which sees every honest gradient of the step,
//! drives correct workers instead.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;
use std::sync::Arc;

use super::server::ServerCore;
use super::types::{Action, Event, Message, Node, Vector};
use super::worker::WorkerCore;
use crate::attacks::{ServerAttack, View, WorkerAttack};
use crate::{Aggregator, Result, Rows};

/// A correct replica driven by a [`ServerAttack`] on every model it sends.
#[derive(Debug)]
pub struct ByzantineServer {
    core: ServerCore,
    attack: Box<dyn ServerAttack>,
    rng: ChaCha8Rng,
}

impl ByzantineServer {
    /// Wraps `core`; the attack's randomness comes from `seed`.
    pub fn new(core: ServerCore, attack: Box<dyn ServerAttack>, seed: u64) -> Self {
        Self {
            core,
            attack,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The attack's name.
    pub fn attack(&self) -> String {
        self.attack.name()
    }

    /// The correct machine underneath.
    pub fn core(&self) -> &ServerCore {
        &self.core
    }

    /// What it would send `to` now: the attack applied to the correct model.
    pub fn model_for(&mut self, to: Node) -> Option<Vec<f32>> {
        let step = self.core.step();
        self.attack
            .model_for(to, self.core.params(), step, &mut self.rng)
            .map(Cow::into_owned)
    }

    /// Handles `event` as a correct replica would, then rewrites (or drops) every model it sends
    /// (in a [`Message::Model`] or a catch-up [`Message::State`]), under the step tags the
    /// attack chooses.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let actions = self.core.handle(event)?;
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            let Action::Send { to, msg } = action else {
                out.push(action);
                continue;
            };
            let (step, params, gathering) = match msg {
                Message::Model { step, params } => (step, params, None),
                Message::State {
                    step,
                    gathering,
                    params,
                } => (step, params, Some(gathering)),
                other => {
                    out.push(Action::Send { to, msg: other });
                    continue;
                }
            };
            // The correct model, unchanged, goes out as the correct replica's shared vector.
            let v: Vector = match self.attack.model_for(to, &params, step, &mut self.rng) {
                None => continue,
                Some(Cow::Borrowed(m)) if std::ptr::eq(m, params.as_slice()) => params.clone(),
                Some(m) => Arc::new(m.into_owned()),
            };
            for tag in self.attack.tags(step) {
                let msg = match gathering {
                    None => Message::Model {
                        step: tag,
                        params: v.clone(),
                    },
                    Some(gathering) => Message::State {
                        step: tag,
                        gathering,
                        params: v.clone(),
                    },
                };
                out.push(Action::Send { to, msg });
            }
        }
        Ok(out)
    }
}

/// A correct worker driven by a [`WorkerAttack`] on the gradient it sends each step (one crafted
/// vector per step, the same to every server; an equivocating worker gains nothing, since every
/// server aggregates on its own). The attack sees the worker's own gradient (after momentum) as
/// its only estimate of the honest ones.
#[derive(Debug)]
pub struct ByzantineWorker {
    core: WorkerCore,
    attack: Box<dyn WorkerAttack>,
    rule: Option<Box<dyn Aggregator>>,
    byzantine: usize,
    workers: usize,
    rng: ChaCha8Rng,
    crafted: Option<(u64, Vector)>,
}

impl ByzantineWorker {
    /// Wraps `core`; `rule` is the servers' (for adaptive attacks), `byzantine` the number of
    /// Byzantine workers, and the attack's randomness comes from `seed`.
    pub fn new(
        core: WorkerCore,
        attack: Box<dyn WorkerAttack>,
        rule: Option<Box<dyn Aggregator>>,
        byzantine: usize,
        seed: u64,
    ) -> Self {
        let workers = core.workers();
        Self {
            core,
            attack,
            rule,
            byzantine,
            workers,
            rng: ChaCha8Rng::seed_from_u64(seed),
            crafted: None,
        }
    }

    /// The attack's name.
    pub fn attack(&self) -> String {
        self.attack.name()
    }

    /// The correct machine underneath.
    pub fn core(&self) -> &WorkerCore {
        &self.core
    }

    /// Handles `event` as a correct worker would, then replaces every gradient it sends (one
    /// crafted vector per step, or per recipient for an equivocating attack), under the step tags
    /// the attack chooses.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let actions = self.core.handle(event)?;
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            let Action::Send {
                to,
                msg: Message::Gradient { step, grad },
            } = action
            else {
                out.push(action);
                continue;
            };
            let grad = self.craft(step, &grad)?;
            for tag in self.attack.tags(step) {
                let msg = Message::Gradient {
                    step: tag,
                    grad: grad.clone(),
                };
                out.push(Action::Send { to, msg });
            }
        }
        Ok(out)
    }

    fn craft(&mut self, step: u64, own: &Vector) -> Result<Vector> {
        if let Some((s, v)) = &self.crafted
            && *s == step
            && !self.attack.per_recipient()
        {
            return Ok(v.clone());
        }
        let v: Vector = if self.attack.flips_labels() {
            own.clone()
        } else {
            let mut view = View {
                own,
                honest: Rows::new(own, 1, own.len())?,
                rule: self.rule.as_deref(),
                byzantine: self.byzantine,
                workers: self.workers,
                rng: &mut self.rng,
            };
            Arc::new(self.attack.craft(&mut view))
        };
        self.crafted = Some((step, v.clone()));
        Ok(v)
    }
}
