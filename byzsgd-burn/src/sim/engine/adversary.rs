//! The Byzantine workers as one colluding adversary (see the engine's docs): their vectors are
//! held until what they wait for is known, then crafted and sent with the smallest latency; and
//! every worker's momentum, applied once per step to what it sends.

use std::sync::Arc;

use byzsgd_core::Rows;
use byzsgd_core::attacks::View;
use byzsgd_core::protocol::{Message, Mode, Node, Vector};

use super::{Engine, Item};
use crate::Result;

impl Engine {
    pub(super) fn momentum(&mut self, w: usize, g: &Vector) -> Vector {
        let beta = self.cfg.momentum as f32;
        if beta == 0.0 {
            return g.clone();
        }
        let v = match self.velocity[w].take() {
            Some(mut v) => {
                for (v, g) in v.iter_mut().zip(g.iter()) {
                    *v = beta * *v + (1.0 - beta) * g;
                }
                v
            }
            None => g.to_vec(),
        };
        self.velocity[w] = Some(v.clone());
        Arc::new(v)
    }

    /// Sends the Byzantine workers' vectors of `step` once what they wait for is known.
    pub(super) fn craft(&mut self, step: u64) -> Result<()> {
        let Some(held) = self.byz_hold.get(&step) else {
            return Ok(());
        };
        // Nothing to send until the held workers' own sends are all queued.
        if held.is_empty() || held.iter().any(|(_, _, to)| to.len() < self.cluster.n_ps) {
            return Ok(());
        }
        let live_honest = (self.cluster.f_w..self.cluster.n_w)
            .filter(|&w| !self.down(Node::Worker(w)))
            .count();
        let honest = self.honest_sent.get(&step).map_or(0, |v| v.len());
        let moved_on = self.honest_sent.range(step + 1..).next().is_some();
        // Async servers take the first q_w vectors: once q_w - f_w honest ones exist, the
        // adversary's vectors must leave now to fill the rest of every quorum.
        let enough = match self.cluster.mode {
            Mode::Async => live_honest.min(self.cluster.q_w().saturating_sub(self.cluster.f_w)),
            _ => live_honest,
        };
        let ready = self.cfg.attack_own_data || honest >= enough.max(1) || moved_on;
        if !ready {
            return Ok(());
        }
        let held = self.byz_hold.remove(&step).unwrap_or_default();
        let dim = self.oracle.dim();
        let knowledge: Vec<f32> = match (self.cfg.attack_own_data, self.honest_sent.get(&step)) {
            (false, Some(h)) if !h.is_empty() => h.iter().flat_map(|v| v.iter().copied()).collect(),
            _ => self
                .byz_own
                .get(&step)
                .map(|v| v.iter().flat_map(|v| v.iter().copied()).collect())
                .unwrap_or_default(),
        };
        let n = knowledge.len() / dim.max(1);
        for (w, own, recipients) in held {
            let vector: Vector = match self.attacks[w].as_mut() {
                None => own,
                Some(attack) => {
                    let mut view = View {
                        own: &own,
                        honest: Rows::new(&knowledge, n, dim)?,
                        rule: Some(self.attack_rule.as_ref()),
                        byzantine: self.cluster.f_w,
                        rng: &mut self.attack_rng,
                    };
                    Arc::new(attack.craft(&mut view))
                }
            };
            let from = Node::Worker(w);
            for to in recipients {
                // The adversary is fast: the smallest latency, no jitter, no loss.
                let at = self.now + self.cfg.network.latency;
                let msg = Message::Gradient {
                    step,
                    grad: vector.clone(),
                };
                self.schedule(at, Item::Deliver { from, to, msg });
            }
        }
        // Forget what no later step needs.
        let keep = step.saturating_sub(2);
        self.honest_sent = self.honest_sent.split_off(&keep);
        self.byz_own = self.byz_own.split_off(&keep);
        Ok(())
    }
}
