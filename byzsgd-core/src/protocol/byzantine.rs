//! A Byzantine replica: a correct [`ServerCore`] whose outgoing models pass through a
//! [`ServerAttack`], which decides what each recipient gets, if anything. Everything else (what
//! it receives, its own state) is the correct machine's, so the attack sees the model a correct
//! replica would send.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

use super::server::ServerCore;
use super::types::{Action, Event, Message};
use crate::Result;
use crate::attacks::ServerAttack;

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

    /// Handles `event` as a correct replica would, then rewrites (or drops) every model it sends.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let actions = self.core.handle(event)?;
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Send {
                    to,
                    msg: Message::Model { step, params },
                } => {
                    if let Some(v) = self.attack.model_for(to, &params, step, &mut self.rng) {
                        out.push(Action::Send {
                            to,
                            msg: Message::Model {
                                step,
                                params: Arc::new(v),
                            },
                        });
                    }
                }
                other => out.push(other),
            }
        }
        Ok(out)
    }
}
