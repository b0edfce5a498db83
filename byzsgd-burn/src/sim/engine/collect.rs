//! Metrics from the nodes' records: per step, the honest replicas' models, the honest workers'
//! losses, the rejections and what the first honest server's rule kept, completed into rows in
//! step order once every live honest replica has finished the step.

use byzsgd_core::protocol::{Node, Record, Refused};

use super::super::metrics::{StepRow, diameter, model_hash};
use super::Engine;
use crate::{BurnError, Result};

impl Engine {
    pub(super) fn record(&mut self, from: Node, r: Record) {
        match (from, r) {
            (
                Node::Server(s),
                Record::Model {
                    step,
                    gathered,
                    params,
                },
            ) if self.is_honest_server(s) => {
                let acc = self.acc.entry(step).or_default();
                acc.models.insert((s, gathered), params);
            }
            (Node::Server(s), Record::Aggregated { step, kept, .. })
                if self.is_honest_server(s) =>
            {
                let acc = self.acc.entry(step).or_default();
                if acc.kept.as_ref().is_none_or(|(first, _)| s < *first) {
                    acc.kept = Some((s, kept));
                }
            }
            (Node::Server(s), Record::Skipped { .. }) if self.is_honest_server(s) => {
                self.skipped += 1;
            }
            (Node::Server(s), Record::Dropped { step, reason, .. })
                if self.is_honest_server(s)
                    && [Refused::NotFinite, Refused::WrongDimension]
                        .iter()
                        .any(|r| r.reason() == reason) =>
            {
                self.acc.entry(step).or_default().rejected += 1;
                self.rejected += 1;
            }
            (Node::Worker(w), Record::Rejected { step, .. }) if !self.is_byz_worker(w) => {
                self.acc.entry(step).or_default().rejected += 1;
                self.rejected += 1;
            }
            (Node::Worker(w), Record::Loss { step, loss }) if !self.is_byz_worker(w) => {
                self.acc.entry(step).or_default().losses.push(loss);
            }
            _ => {}
        }
    }

    /// Emits the rows of every step that every live honest server has finished, in order.
    pub(super) fn complete_rows(&mut self, progress: &mut dyn FnMut(&StepRow)) -> Result<()> {
        loop {
            let step = self.rows.len() as u64;
            if step >= self.cfg.steps {
                return Ok(());
            }
            let gathers = self.cluster.gathers_at(step);
            let live: Vec<usize> = (0..self.cluster.n_ps)
                .filter(|&s| self.is_honest_server(s))
                .filter(|&s| {
                    let node = Node::Server(s);
                    // A crashed server counts for the steps it finished.
                    !self.down(node) || self.servers[s].step() > step
                })
                .collect();
            if live.is_empty() {
                return Err(BurnError::Stalled(format!(
                    "every honest server crashed before step {step}"
                )));
            }
            let Some(acc) = self.acc.get(&step) else {
                return Ok(());
            };
            let has = |s: usize, g: bool| acc.models.contains_key(&(s, g));
            if !live
                .iter()
                .all(|&s| has(s, false) && (!gathers || has(s, true)))
            {
                return Ok(());
            }
            let acc = self.acc.remove(&step).expect("present");
            let before: Vec<&[f32]> = live.iter().map(|&s| &acc.models[&(s, false)][..]).collect();
            let after: Vec<&[f32]> = if gathers {
                live.iter().map(|&s| &acc.models[&(s, true)][..]).collect()
            } else {
                Vec::new()
            };
            let first = live[0];
            let model = acc
                .models
                .get(&(first, true))
                .or_else(|| acc.models.get(&(first, false)))
                .expect("checked above")
                .clone();
            if gathers {
                self.gather_hashes.push((step, model_hash(&model)));
            }
            let last = step + 1 == self.cfg.steps;
            let every = self.cfg.eval_every;
            let test_accuracy = if last || (every > 0 && (step + 1).is_multiple_of(every)) {
                self.oracle.evaluate(&model)?
            } else {
                None
            };
            let losses = &acc.losses;
            let row = StepRow {
                step,
                wall_seconds: self.started.elapsed().as_secs_f64(),
                loss: (!losses.is_empty())
                    .then(|| losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64),
                test_accuracy,
                diameter: diameter(&before),
                diameter_after_gather: gathers.then(|| diameter(&after)),
                rejected: acc.rejected,
                kept: acc.kept.map(|(_, k)| k).unwrap_or_default(),
            };
            progress(&row);
            self.rows.push(row);
            self.last_params = Some(model);
        }
    }
}
