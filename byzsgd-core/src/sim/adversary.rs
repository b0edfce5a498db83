//! The Byzantine workers as one colluding, omniscient and fast adversary (the simulator's only
//! Byzantine behaviour of its own; everything else is the node layer's).
//!
//! The first `f_w` workers run correct [`WorkerCore`]s (so they hold models and compute their
//! own gradient, on flipped labels under a data attack); their outgoing vectors are held here.
//! At step `t` the adversary waits until the honest workers have sent enough step-`t` vectors
//! (asynchronous mode: `q_w − f_w`, so that with its own they fill every server's quorum;
//! otherwise every live honest worker's; or until one has moved past `t`), crafts from those
//! vectors, and its messages arrive with the smallest latency, no jitter and no loss. (Waiting
//! for every honest vector in asynchronous mode let the honest ones fill the quorums first:
//! measured, reverse, Gaussian and label-flip runs then ended with the same model hash, their
//! vectors never used.) With `attack_own_data`, it crafts from its own workers' vectors instead,
//! as it must over a real network.
//!
//! [`WorkerCore`]: crate::protocol::WorkerCore

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::queue::{Item, Queue};
use crate::attacks::{View, WorkerAttack};
use crate::node::{Cluster, mix};
use crate::protocol::{ClusterConfig, Message, Mode, Node, Vector};
use crate::{Aggregator, Result, Rows};

/// A Byzantine worker's vector of a step, and who it is for so far.
type Held = (usize, Vector, Vec<Node>);

pub(super) struct Adversary {
    shape: ClusterConfig,
    own_data: bool,
    latency: f64,
    /// Per worker: its attack (`None`: honest, or an attack whose vector goes out as it is).
    attacks: Vec<Option<Box<dyn WorkerAttack>>>,
    rule: Box<dyn Aggregator>,
    rng: ChaCha8Rng,
    /// `(worker, step)` of the vectors already noted.
    seen: HashSet<(usize, u64)>,
    /// Per step, the honest workers' vectors and their ids.
    honest_sent: BTreeMap<u64, Vec<(usize, Vector)>>,
    own: BTreeMap<u64, Vec<Vector>>,
    hold: BTreeMap<u64, Vec<Held>>,
}

impl Adversary {
    pub fn new(cluster: &Cluster) -> Result<Self> {
        let shape = cluster.shape();
        let spec = cluster.spec();
        let attacks = (0..shape.n_w)
            .map(|w| {
                if !cluster.is_byzantine(Node::Worker(w)) {
                    return Ok(None);
                }
                let attack = cluster.worker_attack()?;
                Ok((!attack.sends_own()).then_some(attack))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            shape,
            own_data: spec.attack_own_data,
            latency: spec.network.latency,
            attacks,
            rule: cluster.rule()?,
            rng: ChaCha8Rng::seed_from_u64(mix(spec.seed, 2)),
            seen: HashSet::new(),
            honest_sent: BTreeMap::new(),
            own: BTreeMap::new(),
            hold: BTreeMap::new(),
        })
    }

    pub fn is_byzantine(&self, w: usize) -> bool {
        self.shape.is_byzantine(Node::Worker(w))
    }

    /// Worker `w` sends `v` to `to` at `step`. Returns the message to transmit now (an honest
    /// worker's), or `None` when the adversary holds it (a Byzantine worker's).
    pub fn intercept(&mut self, w: usize, step: u64, v: &Vector, to: Node) -> Option<Message> {
        if self.seen.insert((w, step)) {
            if self.is_byzantine(w) {
                self.own.entry(step).or_default().push(v.clone());
                self.hold
                    .entry(step)
                    .or_default()
                    .push((w, v.clone(), Vec::new()));
            } else {
                self.honest_sent
                    .entry(step)
                    .or_default()
                    .push((w, v.clone()));
            }
            self.seen.retain(|&(_, s)| s + 2 >= step);
        }
        if self.is_byzantine(w) {
            if let Some(held) = self.hold.get_mut(&step)
                && let Some(entry) = held.iter_mut().find(|(x, _, _)| *x == w)
            {
                entry.2.push(to);
            }
            return None;
        }
        Some(Message::Gradient {
            step,
            grad: v.clone(),
        })
    }

    /// Sends the Byzantine workers' vectors of `step` once what they wait for is known (`crashed`:
    /// the nodes that are down).
    pub fn craft(&mut self, step: u64, crashed: &HashSet<Node>, queue: &mut Queue) -> Result<()> {
        let Some(held) = self.hold.get(&step) else {
            return Ok(());
        };
        // Nothing to send until the held workers' own sends are all queued.
        if held.is_empty() || held.iter().any(|(_, _, to)| to.len() < self.shape.n_ps) {
            return Ok(());
        }
        let live_honest = (self.shape.f_w..self.shape.n_w)
            .filter(|&w| !crashed.contains(&Node::Worker(w)))
            .count();
        let honest = self.honest_sent.get(&step).map_or(0, |v| v.len());
        let moved_on = self.honest_sent.range(step + 1..).next().is_some();
        // Async servers take the first q_w vectors: once q_w - f_w honest ones exist, the
        // adversary's vectors must leave now to fill the rest of every quorum.
        let enough = match self.shape.mode {
            Mode::Async => live_honest.min(self.shape.q_w().saturating_sub(self.shape.f_w)),
            _ => live_honest,
        };
        let ready = self.own_data || honest >= enough.max(1) || moved_on;
        if !ready {
            return Ok(());
        }
        let held = self.hold.remove(&step).unwrap_or_default();
        // What the adversary knows of the step, viewed where it lies.
        let knowledge: Vec<&[f32]> = match (self.own_data, self.honest_sent.get(&step)) {
            (false, Some(h)) if !h.is_empty() => {
                // In worker-id order, so `mimic` copies the same worker every step.
                let mut h: Vec<&(usize, Vector)> = h.iter().collect();
                h.sort_by_key(|(w, _)| *w);
                h.iter().map(|(_, v)| v.as_slice()).collect()
            }
            _ => self
                .own
                .get(&step)
                .map(|v| v.iter().map(|v| v.as_slice()).collect())
                .unwrap_or_default(),
        };
        for (w, own, recipients) in held {
            let from = Node::Worker(w);
            let tags = match self.attacks[w].as_mut() {
                Some(attack) => attack.tags(step),
                None => vec![step],
            };
            let mut vector: Option<Vector> = None;
            for to in recipients {
                let v = match (self.attacks[w].as_mut(), &vector) {
                    (None, _) => own.clone(),
                    (Some(attack), Some(v)) if !attack.per_recipient() => v.clone(),
                    (Some(attack), _) => {
                        let mut view = View {
                            own: &own,
                            honest: Rows::scattered(&knowledge)?,
                            rule: Some(self.rule.as_ref()),
                            byzantine: self.shape.f_w,
                            workers: self.shape.n_w,
                            rng: &mut self.rng,
                        };
                        Arc::new(attack.craft(&mut view))
                    }
                };
                vector = Some(v.clone());
                for &tag in &tags {
                    // The adversary is fast: the smallest latency, no jitter, no loss.
                    let at = queue.now() + self.latency;
                    let msg = Message::Gradient {
                        step: tag,
                        grad: v.clone(),
                    };
                    queue.schedule(at, Item::Deliver { from, to, msg });
                }
            }
        }
        // Forget what no later step needs.
        let keep = step.saturating_sub(2);
        self.honest_sent = self.honest_sent.split_off(&keep);
        self.own = self.own.split_off(&keep);
        Ok(())
    }
}
