//! A correct parameter-server replica as a state machine.

use std::sync::Arc;

use super::buffer::{Refused, StepBuffer};
use super::config::{ClusterConfig, Mode};
use super::types::{Action, Event, Message, Node, Record, Timer, Vector};
use super::update::Update;
use crate::{Aggregator, Contraction, MedianConfig, Result, Rows};

/// Where a server is within its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `q_w` gradients of the step.
    Collecting,
    /// Updated; waiting for `q_ps` models of the gather.
    Gathering,
}

/// Server replica `id`: collects gradients, aggregates, updates, gathers (ALGORITHMS.md).
#[derive(Debug)]
pub struct ServerCore {
    id: usize,
    cluster: ClusterConfig,
    params: Vec<f32>,
    rule: Box<dyn Aggregator>,
    contraction: Box<dyn Contraction>,
    update: Box<dyn Update>,
    step: u64,
    phase: Phase,
    grads: StepBuffer,
    models: StepBuffer,
    /// The model at the start of the current step (what pulls of this step get).
    step_model: Vector,
    /// Synchronous mode: pulls for future steps, answered when the step starts.
    pending_pulls: std::collections::BTreeMap<u64, Vec<usize>>,
    /// Synchronous mode: the current step's deadline passed.
    deadline_passed: bool,
}

impl ServerCore {
    /// Replica `id` of `cluster`, starting from `params` (the same for every correct replica),
    /// aggregating with `rule` and updating with `update`. Checks the cluster's bounds and the
    /// rule's own bound against the `q_w` gradients it will receive; the contraction is the
    /// coordinate-wise median of `q_ps` models.
    pub fn new(
        id: usize,
        cluster: ClusterConfig,
        params: Vec<f32>,
        rule: Box<dyn Aggregator>,
        update: Box<dyn Update>,
    ) -> Result<Self> {
        cluster.validate()?;
        rule.bound().check(&rule.name(), cluster.q_w(), rule.f())?;
        let contraction = Box::new(MedianConfig::new(cluster.q_ps(), 0).init()?);
        let dim = params.len();
        let window = cluster.step_window();
        Ok(Self {
            id,
            cluster,
            step_model: Arc::new(params.clone()),
            pending_pulls: Default::default(),
            deadline_passed: false,
            params,
            rule,
            contraction,
            update,
            step: 0,
            phase: Phase::Collecting,
            grads: StepBuffer::new(dim, window),
            models: StepBuffer::new(dim, window),
        })
    }

    /// Replaces the gathers' contraction (the coordinate-wise median by default) with
    /// `contraction` (built for the `q_ps` models it will receive, e.g. by
    /// [`registry::build_contraction`](crate::registry::build_contraction), which checks its
    /// bound).
    pub fn with_contraction(mut self, contraction: Box<dyn Contraction>) -> Self {
        self.contraction = contraction;
        self
    }

    /// This replica's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The current step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The current parameters.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Handles one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.start_step(&mut out),
            Event::Timer(Timer::StepDeadline { step })
                if step == self.step && self.phase == Phase::Collecting =>
            {
                self.deadline_passed = true;
                self.progress(&mut out)?;
            }
            Event::Timer(_) => {}
            Event::Received {
                from: Node::Worker(w),
                msg: Message::Pull { step },
            } if self.cluster.mode == Mode::Sync => self.pull(w, step, &mut out),
            Event::Received { from, msg } => {
                let step = msg.step();
                let refused = match (from, msg) {
                    (Node::Worker(w), Message::Gradient { step, grad }) => {
                        self.grads.insert(w, step, grad).err()
                    }
                    (Node::Server(s), Message::Model { step, params }) => {
                        self.models.insert(s, step, params).err()
                    }
                    _ => {
                        out.push(Action::Record(Record::Dropped {
                            from,
                            step,
                            reason: Refused::Unexpected,
                        }));
                        return Ok(out);
                    }
                };
                if let Some(why) = refused {
                    out.push(Action::Record(Record::Dropped {
                        from,
                        step,
                        reason: why,
                    }));
                }
                self.progress(&mut out)?;
            }
            Event::GradientComputed { .. } => {}
        }
        Ok(out)
    }

    fn progress(&mut self, out: &mut Vec<Action>) -> Result<()> {
        loop {
            match self.phase {
                Phase::Collecting
                    if self.grads.count(self.step) >= self.cluster.q_w()
                        || self.deadline_passed =>
                {
                    let q = self.grads.count(self.step).min(self.cluster.q_w());
                    let needed = self.rule.bound().min_inputs(self.rule.f()).max(1);
                    let (rows, from) = self.grads.take(self.step, q);
                    if q >= needed {
                        let (aggregate, kept) =
                            self.rule
                                .aggregate_rows(Rows::new(&rows, q, self.params.len())?)?;
                        self.update.apply(&mut self.params, &aggregate, self.step);
                        let kept = kept.iter().map(|&i| from[i]).collect();
                        out.push(Action::Record(Record::Aggregated {
                            step: self.step,
                            from,
                            kept,
                        }));
                    } else {
                        out.push(Action::Record(Record::Skipped {
                            step: self.step,
                            got: q,
                            needed,
                        }));
                    }
                    if self.cluster.gathers_at(self.step) {
                        self.phase = Phase::Gathering;
                        let mine: Vector = Arc::new(self.params.clone());
                        out.push(Action::Record(Record::Model {
                            step: self.step,
                            gathered: false,
                            params: mine.clone(),
                        }));
                        // Our own model counts; a refusal here would mean a non-finite update.
                        if let Err(why) = self.models.insert(self.id, self.step, mine.clone()) {
                            let from = Node::Server(self.id);
                            out.push(Action::Record(Record::Dropped {
                                from,
                                step: self.step,
                                reason: why,
                            }));
                        }
                        for s in (0..self.cluster.n_ps).filter(|&s| s != self.id) {
                            let msg = Message::Model {
                                step: self.step,
                                params: mine.clone(),
                            };
                            out.push(Action::Send {
                                to: Node::Server(s),
                                msg,
                            });
                        }
                    } else {
                        self.finish_step(out);
                    }
                }
                Phase::Gathering if self.models.count(self.step) >= self.cluster.q_ps() => {
                    let q = self.cluster.q_ps();
                    let (rows, from) = self.models.take(self.step, q);
                    let median =
                        self.contraction
                            .contract_rows(Rows::new(&rows, q, self.params.len())?)?;
                    self.params = median;
                    out.push(Action::Record(Record::Gathered {
                        step: self.step,
                        from,
                    }));
                    self.finish_step(out);
                }
                _ => return Ok(()),
            }
        }
    }

    fn finish_step(&mut self, out: &mut Vec<Action>) {
        let params: Vector = Arc::new(self.params.clone());
        out.push(Action::Record(Record::Model {
            step: self.step,
            gathered: self.phase == Phase::Gathering,
            params: params.clone(),
        }));
        self.step_model = params;
        self.step += 1;
        self.phase = Phase::Collecting;
        self.deadline_passed = false;
        self.grads.advance(self.step);
        self.models.advance(self.step);
        self.start_step(out);
    }

    /// Async and vanilla: the model goes to every worker. Sync: pulls that waited for this step
    /// are answered, and the step's deadline is set.
    fn start_step(&mut self, out: &mut Vec<Action>) {
        if self.cluster.mode == Mode::Sync {
            let waiting = self.pending_pulls.remove(&self.step).unwrap_or_default();
            self.pending_pulls = self.pending_pulls.split_off(&self.step);
            for w in waiting {
                self.reply(w, out);
            }
            out.push(Action::SetTimer(Timer::StepDeadline { step: self.step }));
            return;
        }
        for w in 0..self.cluster.n_w {
            self.reply(w, out);
        }
    }

    fn reply(&self, worker: usize, out: &mut Vec<Action>) {
        out.push(Action::Send {
            to: Node::Worker(worker),
            msg: Message::Model {
                step: self.step,
                params: self.step_model.clone(),
            },
        });
    }

    /// A synchronous pull: answered now for this step or an older one (the worker catches up),
    /// held for a future step within the window, dropped beyond it.
    fn pull(&mut self, worker: usize, step: u64, out: &mut Vec<Action>) {
        if step <= self.step {
            self.reply(worker, out);
        } else if step - self.step <= self.cluster.step_window() {
            let waiting = self.pending_pulls.entry(step).or_default();
            if !waiting.contains(&worker) {
                waiting.push(worker);
            }
        } else {
            out.push(Action::Record(Record::Dropped {
                from: Node::Worker(worker),
                step,
                reason: Refused::TooFarAhead,
            }));
        }
    }
}
