//! A correct worker as a state machine.
//!
//! Asynchronous (and vanilla): take the coordinate-wise median of the first `q_ps` models of the
//! step, ask for a gradient there, send it to every server.
//!
//! Synchronous: pull from one server, `(i + t) mod n_ps` first; compute the gradient at its reply
//! and check both with the [`Filters`]; on a rejection (or a pull timeout) ask the next server;
//! when every server's reply was rejected, take the median of the replies. After a gather (and at
//! step 0) pull from every server and take the median of `q_ps`, as in async mode.

use std::sync::Arc;

use super::buffer::{Refused, StepBuffer};
use super::config::{ClusterConfig, Mode};
use super::filters::{Filter, FilterConfig, Filters};
use super::types::{Action, Event, Message, Node, Record, Timer, Vector};
use crate::{Aggregator, MedianConfig, Result, Rows};

/// Where a synchronous worker is within its step.
#[derive(Debug, Clone)]
enum Pulling {
    /// Waiting for `q_ps` models (async, or a sync step after a gather).
    Quorum,
    /// Waiting for the reply of its `attempt`-th server.
    One { attempt: usize },
    /// Computing the gradient at the `attempt`-th server's reply.
    Checking {
        attempt: usize,
        server: usize,
        theta: Vector,
    },
    /// Computing the gradient at a model it will send without filtering (quorum median, or the
    /// median of all rejected replies).
    Final { theta: Vector },
}

/// Worker `id`: takes the median of `q_ps` models of its step, asks for a gradient there, and
/// sends it to every server (synchronous mode: pulls and filters, see the module docs).
#[derive(Debug)]
pub struct WorkerCore {
    id: usize,
    cluster: ClusterConfig,
    dim: usize,
    median: Box<dyn Aggregator>,
    step: u64,
    state: Pulling,
    models: StepBuffer,
    filters: Filters,
    /// Sync: the replies of this step so far, in the order asked.
    replies: Vec<(usize, Vector)>,
    /// Momentum `β` (0: none, the paper's algorithm).
    momentum: f32,
    /// The velocity `v ← β v + (1 − β) g` it sends, once it has sent one.
    velocity: Option<Vec<f32>>,
}

impl WorkerCore {
    /// Worker `id` of `cluster`, for models of `dim` parameters; `filters` are used in
    /// synchronous mode only.
    pub fn new(
        id: usize,
        cluster: ClusterConfig,
        dim: usize,
        filters: FilterConfig,
    ) -> Result<Self> {
        cluster.validate()?;
        let window = cluster.step_window();
        Ok(Self {
            id,
            cluster,
            dim,
            median: Box::new(MedianConfig::new(cluster.n_ps, 0).init()?),
            step: 0,
            state: Pulling::Quorum,
            models: StepBuffer::new(dim, window),
            filters: Filters::new(filters, cluster),
            replies: Vec::new(),
            momentum: 0.0,
            velocity: None,
        })
    }

    /// Sends the velocity `v ← β v + (1 − β) g` (`v` starts at the first gradient) rather than
    /// the gradient `g`: worker momentum, the literature's defence against attacks that hide in
    /// the honest gradients' spread (Karimireddy et al. 2021). `β = 0` is the paper's algorithm.
    /// The filters of the synchronous variant check the gradient, not the velocity.
    pub fn with_momentum(mut self, beta: f64) -> Self {
        self.momentum = beta as f32;
        self
    }

    /// This worker's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The step it is working on.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Handles one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.start_step(&mut out)?,
            Event::Received {
                from: Node::Server(s),
                msg: Message::Model { step, params },
            } => self.model(s, step, params, &mut out)?,
            Event::Received { from, msg } => {
                out.push(Action::Record(Record::Dropped {
                    from,
                    step: msg.step(),
                    reason: Refused::Unexpected,
                }));
            }
            Event::GradientComputed { step, grad, loss } if step == self.step => {
                self.computed(grad, loss, &mut out)?;
            }
            Event::GradientComputed { step, .. } => {
                out.push(Action::Record(Record::Dropped {
                    from: Node::Worker(self.id),
                    step,
                    reason: Refused::NotAsked,
                }));
            }
            Event::Timer(Timer::PullTimeout { step, attempt }) if step == self.step => {
                if let Pulling::One { attempt: a } = self.state
                    && a == attempt
                {
                    out.push(Action::Record(Record::Rejected {
                        step,
                        server: self.server_for(attempt),
                        filter: Filter::Timeout,
                        value: 0.0,
                        threshold: 0.0,
                    }));
                    self.next_server(attempt + 1, &mut out)?;
                }
            }
            Event::Timer(_) => {}
        }
        Ok(out)
    }

    fn sync(&self) -> bool {
        self.cluster.mode == Mode::Sync
    }

    fn server_for(&self, attempt: usize) -> usize {
        (self.id + self.step as usize + attempt) % self.cluster.n_ps
    }

    fn start_step(&mut self, out: &mut Vec<Action>) -> Result<()> {
        self.replies.clear();
        if self.sync() && !self.cluster.pulls_all_at(self.step) {
            self.next_server(0, out)
        } else {
            self.state = Pulling::Quorum;
            if self.sync() {
                self.pull_all(None, out);
            }
            self.try_quorum(out)
        }
    }

    /// Sync: asks every server (but `except`, which already answered) for its model of this step.
    fn pull_all(&self, except: Option<usize>, out: &mut Vec<Action>) {
        let step = self.step;
        for s in (0..self.cluster.n_ps).filter(|&s| Some(s) != except) {
            out.push(Action::Send {
                to: Node::Server(s),
                msg: Message::Pull { step },
            });
        }
    }

    /// Sync: ask the `attempt`-th server, or take the median of every reply when all were asked.
    fn next_server(&mut self, attempt: usize, out: &mut Vec<Action>) -> Result<()> {
        if attempt >= self.cluster.n_ps {
            out.push(Action::Record(Record::AllRejected { step: self.step }));
            let n = self.replies.len();
            if n == 0 {
                // Nobody answered: pull from everyone and wait for a quorum.
                self.state = Pulling::Quorum;
                self.pull_all(None, out);
                return self.try_quorum(out);
            }
            let rows: Vec<f32> = self
                .replies
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            let (theta, _) = self.median.aggregate_rows(Rows::new(&rows, n, self.dim)?)?;
            self.compute(
                Pulling::Final {
                    theta: Arc::new(theta),
                },
                out,
            );
            return Ok(());
        }
        self.state = Pulling::One { attempt };
        let step = self.step;
        out.push(Action::Send {
            to: Node::Server(self.server_for(attempt)),
            msg: Message::Pull { step },
        });
        out.push(Action::SetTimer(Timer::PullTimeout { step, attempt }));
        Ok(())
    }

    fn compute(&mut self, state: Pulling, out: &mut Vec<Action>) {
        let params = match &state {
            Pulling::Checking { theta, .. } | Pulling::Final { theta } => theta.clone(),
            _ => unreachable!("compute is asked for a model"),
        };
        self.state = state;
        out.push(Action::ComputeGradient {
            step: self.step,
            params,
        });
    }

    fn model(&mut self, s: usize, step: u64, params: Vector, out: &mut Vec<Action>) -> Result<()> {
        let asked = match self.state {
            Pulling::One { attempt } => Some((attempt, self.server_for(attempt))),
            _ => None,
        };
        // Sync: a reply for a later step means the servers moved on without us (a pull for an
        // old step is answered with the current model); catch up while waiting for models.
        if self.sync() && step > self.step {
            match self.state {
                Pulling::One { .. } | Pulling::Quorum => {
                    self.step = step;
                    self.models.advance(step);
                    self.replies.clear();
                    if matches!(self.state, Pulling::Quorum) {
                        self.pull_all(Some(s), out);
                    }
                }
                _ => return Ok(()),
            }
        }
        if let Err(why) = self.models.insert(s, step, params.clone()) {
            out.push(Action::Record(Record::Dropped {
                from: Node::Server(s),
                step,
                reason: why,
            }));
            return Ok(());
        }
        match (&self.state, asked) {
            (Pulling::Quorum, _) => self.try_quorum(out),
            (Pulling::One { .. }, Some((attempt, server))) if step == self.step && s == server => {
                let n = self.models.count(step);
                self.models.take(step, n);
                let state = Pulling::Checking {
                    attempt,
                    server,
                    theta: params,
                };
                self.compute(state, out);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn try_quorum(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let q = self.cluster.q_ps();
        if self.models.count(self.step) < q {
            return Ok(());
        }
        let (rows, _) = self.models.take(self.step, q);
        let theta = if q == 1 {
            rows
        } else {
            self.median
                .aggregate_rows(Rows::new(&rows, q, self.dim)?)?
                .0
        };
        self.compute(
            Pulling::Final {
                theta: Arc::new(theta),
            },
            out,
        );
        Ok(())
    }

    /// What it sends for gradient `g`: `g` itself without momentum, else the updated velocity.
    fn velocity(&mut self, g: Vector) -> Vector {
        let beta = self.momentum;
        if beta == 0.0 {
            return g;
        }
        let v = match self.velocity.take() {
            Some(mut v) => {
                for (v, g) in v.iter_mut().zip(g.iter()) {
                    *v = beta * *v + (1.0 - beta) * g;
                }
                v
            }
            None => g.to_vec(),
        };
        self.velocity = Some(v.clone());
        Arc::new(v)
    }

    fn computed(&mut self, grad: Vector, loss: f32, out: &mut Vec<Action>) -> Result<()> {
        let step = self.step;
        // Until the next pull or quorum, nothing is awaited (restored below if the gradient was
        // not one this worker asked for).
        match std::mem::replace(&mut self.state, Pulling::Quorum) {
            Pulling::Checking {
                attempt,
                server,
                theta,
            } => {
                if let Err(r) = self.filters.check(step, &theta, &grad) {
                    out.push(Action::Record(Record::Rejected {
                        step,
                        server,
                        filter: r.filter,
                        value: r.value,
                        threshold: r.threshold,
                    }));
                    self.replies.push((server, theta));
                    return self.next_server(attempt + 1, out);
                }
                self.filters.accept(&theta, &grad);
            }
            Pulling::Final { theta } => {
                if self.sync() {
                    self.filters.accept(&theta, &grad);
                }
            }
            other => {
                self.state = other;
                out.push(Action::Record(Record::Dropped {
                    from: Node::Worker(self.id),
                    step,
                    reason: Refused::NotAsked,
                }));
                return Ok(());
            }
        }
        out.push(Action::Record(Record::Loss { step, loss }));
        let grad = self.velocity(grad);
        for s in 0..self.cluster.n_ps {
            out.push(Action::Send {
                to: Node::Server(s),
                msg: Message::Gradient {
                    step,
                    grad: grad.clone(),
                },
            });
        }
        self.step += 1;
        self.models.advance(self.step);
        self.start_step(out)
    }
}
