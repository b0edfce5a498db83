//! A correct worker as a state machine.
//!
//! Asynchronous (and vanilla): take the coordinate-wise median of the first `q_ps` models of the
//! step, ask for a gradient there, send it to every server.
//!
//! Synchronous: pull from one server, `(i + t) mod n_ps` first; compute the gradient at its reply
//! and check both with the [`Filters`]; on a rejection (or a pull timeout) ask the next server;
//! when every server's reply was rejected, take the median of the replies. After a gather (and at
//! step 0) pull from every server and take the median of `q_ps`, as in async mode.
//!
//! A worker trusts no single server's step number. It follows a later step only when `f_ps + 1`
//! distinct servers vouch for it (synchronous mode: any later step, then it pulls again;
//! asynchronous mode: a step beyond its window, or a later step with a whole quorum of models,
//! while it waits), so one lying replica can neither make it jump nor strand it. Its last sent
//! gradient is sent again to a server that asks (once per server and step) or reconnects.

use std::sync::Arc;

use super::buffer::{Limits, Refused, StepBuffer};
use super::config::{ClusterConfig, Mode};
use super::filters::{Filter, FilterConfig, Filters, Rejection};
use super::once::OncePerStep;
use super::server::drop_msg;
use super::snapshot::WorkerSnapshot;
use super::types::{Action, Event, Message, Node, Record, Timer, Vector, slices};
use crate::{Aggregator, Error, MedianConfig, Result, Rows};

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
    velocity: Option<Vector>,
    limits: Limits,
    /// The last vector it sent and its step (sent again to a server that missed it).
    last_sent: Option<(u64, Vector)>,
    /// Per server: the step of the gradient last sent again on its pull.
    resent: OncePerStep,
    /// Per server: sent our messages again on a reconnection at a step.
    reconnected: OncePerStep,
    /// Restored or restarted: asks the servers for their models on start.
    rejoining: bool,
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
        filters.validate()?;
        if id >= cluster.n_w {
            return Err(Error::Config(format!(
                "worker id {id} out of range: the cluster has {} workers",
                cluster.n_w
            )));
        }
        let limits = Limits::default();
        Ok(Self {
            id,
            cluster,
            dim,
            median: Box::new(MedianConfig::new(cluster.n_ps, 0).init()?),
            step: 0,
            state: Pulling::Quorum,
            models: StepBuffer::new(dim, cluster.n_ps, limits),
            filters: Filters::new(filters, cluster),
            replies: Vec::new(),
            momentum: 0.0,
            velocity: None,
            limits,
            last_sent: None,
            resent: OncePerStep::new(cluster.n_ps),
            reconnected: OncePerStep::new(cluster.n_ps),
            rejoining: false,
        })
    }

    /// Buffers with `limits` rather than [`Limits::default`] (before the run starts).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.models = StepBuffer::new(self.dim, self.cluster.n_ps, limits);
        self.models.advance(self.step);
        self
    }

    /// Starts as a worker that was down with its state lost: on [`Event::Start`] it asks every
    /// server for its model and follows them.
    pub fn rejoining(mut self) -> Self {
        self.rejoining = true;
        self
    }

    /// Its state, to write to disk and [`restore`](Self::restore) after a restart.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            id: self.id,
            step: self.step,
            velocity: self.velocity.as_ref().map(|v| v.to_vec()),
            last_sent: self.last_sent.as_ref().map(|(s, v)| (*s, v.to_vec())),
            filters: self.filters.state(),
        }
    }

    /// This worker (built as by [`new`](Self::new), with the same momentum) with the state of
    /// `snapshot`; on [`Event::Start`] it asks every server for its model and follows them.
    pub fn restore(mut self, snapshot: WorkerSnapshot) -> Result<Self> {
        let dim_ok = |v: &[f32]| v.len() == self.dim;
        let fits = snapshot.id == self.id
            && snapshot.velocity.as_deref().is_none_or(dim_ok)
            && snapshot.last_sent.as_ref().is_none_or(|(_, v)| dim_ok(v))
            && snapshot
                .filters
                .last
                .as_ref()
                .is_none_or(|a| dim_ok(&a.theta) && dim_ok(&a.grad) && dim_ok(&a.sent));
        if !fits {
            return Err(Error::Input(format!(
                "snapshot of worker {} does not fit worker {} with {} parameters",
                snapshot.id, self.id, self.dim
            )));
        }
        self.step = snapshot.step;
        self.velocity = snapshot.velocity.map(Arc::new);
        self.last_sent = snapshot.last_sent.map(|(s, v)| (s, Arc::new(v)));
        self.filters.set_state(snapshot.filters);
        self.models.advance(self.step);
        Ok(self.rejoining())
    }

    /// Sends the velocity `v ← β v + (1 − β) g` (`v` starts at the first gradient) rather than
    /// the gradient `g`: worker momentum, the literature's defence against attacks that hide in
    /// the honest gradients' spread (Karimireddy et al. 2021). `β = 0` is the paper's algorithm.
    /// Of the synchronous variant's filters, the Lipschitz filter checks the raw gradient and
    /// the distance filter the velocity (what the servers applied).
    pub fn with_momentum(mut self, beta: f64) -> Self {
        self.momentum = beta as f32;
        self
    }

    /// This worker's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Workers in its cluster (`n_w`).
    pub fn workers(&self) -> usize {
        self.cluster.n_w
    }

    /// The step it is working on.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Handles one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                if std::mem::take(&mut self.rejoining) && !self.sync() {
                    self.pull_all(&mut out);
                }
                self.start_step(&mut out)?;
            }
            Event::Received {
                from: Node::Server(s),
                msg,
            } if s < self.cluster.n_ps => match msg {
                Message::Model { step, params } => self.model(s, step, params, &mut out)?,
                Message::Pull { step } => {
                    if let Err(why) = self.resend(s, step, &mut out) {
                        drop_msg(&mut out, Node::Server(s), step, why);
                    }
                }
                other => drop_msg(&mut out, Node::Server(s), other.step(), Refused::Unexpected),
            },
            Event::Received { from, msg } => {
                let known = matches!(from, Node::Worker(w) if w < self.cluster.n_w);
                let why = if known {
                    Refused::Unexpected
                } else {
                    Refused::UnknownSender
                };
                drop_msg(&mut out, from, msg.step(), why);
            }
            Event::Connected {
                peer: Node::Server(s),
            } if s < self.cluster.n_ps => self.connected(s, &mut out),
            Event::Connected { .. } => {}
            Event::GradientComputed { step, grad, loss } if step == self.step => {
                self.computed(grad, loss, &mut out)?;
            }
            Event::GradientComputed { step, .. } => {
                drop_msg(&mut out, Node::Worker(self.id), step, Refused::NotAsked);
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
            Event::Timer(timer @ (Timer::QuorumTimeout { step, .. } | Timer::Stall { step }))
                if step == self.step && matches!(self.state, Pulling::Quorum) =>
            {
                let have = self.models.count(step);
                out.push(Action::Record(Record::Stalled {
                    step,
                    waiting: "models",
                    have,
                    need: self.cluster.q_ps(),
                }));
                // Synchronous mode: the median of 2 f_ps + 1 models is within the correct ones'
                // range coordinate by coordinate, whichever f_ps lie; the quorum of q_ps is only
                // what the algorithm waits for when nothing is lost.
                // Never fewer: correct replicas may answer late (they wait out their own step
                // deadline first), and a Byzantine one answering at once must not be the median.
                let safe = 2 * self.cluster.f_ps + 1;
                if matches!(timer, Timer::QuorumTimeout { .. }) && have >= safe {
                    self.take_median(have, &mut out)?;
                    return Ok(out);
                }
                for s in (0..self.cluster.n_ps).filter(|&s| !self.models.has(step, s)) {
                    send(&mut out, Node::Server(s), Message::Pull { step });
                }
                let again = match timer {
                    Timer::QuorumTimeout { attempt, .. } => Timer::QuorumTimeout {
                        step,
                        attempt: attempt.saturating_add(1),
                    },
                    other => other,
                };
                out.push(Action::SetTimer(again));
            }
            Event::Timer(_) => {}
        }
        Ok(out)
    }

    /// A reconnected server gets the last gradient again, and the pending pull, once per server
    /// and step however often it reconnects.
    fn connected(&mut self, s: usize, out: &mut Vec<Action>) {
        if !self.reconnected.first(s, self.step) {
            return;
        }
        if let Some((step, grad)) = &self.last_sent {
            let msg = Message::Gradient {
                step: *step,
                grad: grad.clone(),
            };
            send(out, Node::Server(s), msg);
        }
        let asked = match self.state {
            Pulling::One { attempt } => self.server_for(attempt) == s,
            Pulling::Quorum => !self.models.has(self.step, s),
            _ => false,
        };
        if asked {
            send(out, Node::Server(s), Message::Pull { step: self.step });
        }
    }

    /// A server that missed our gradient of `step` asks for it again (once per server and step).
    fn resend(&mut self, s: usize, step: u64, out: &mut Vec<Action>) -> Result<(), Refused> {
        let Some((sent, grad)) = &self.last_sent else {
            return Err(Refused::NotAsked);
        };
        if *sent != step {
            return Err(Refused::NotAsked);
        }
        if !self.resent.first(s, step) {
            return Err(Refused::Repeated);
        }
        let msg = Message::Gradient {
            step,
            grad: grad.clone(),
        };
        send(out, Node::Server(s), msg);
        Ok(())
    }

    /// Whether it waits for models (rather than for its own gradient).
    fn waiting(&self) -> bool {
        matches!(self.state, Pulling::Quorum | Pulling::One { .. })
    }

    /// A later step it should follow the servers to, if any: one `f_ps + 1` servers vouch for
    /// (synchronous mode: any later one; asynchronous: beyond the window, since the replicas
    /// still at this step may need its gradient), or, waiting for models, a later step with a
    /// whole quorum of them (this step's were lost).
    fn jump_target(&self) -> Option<u64> {
        let vouched = self.models.vouched(self.cluster.f_ps + 1);
        let beyond = if self.sync() {
            self.step
        } else {
            self.step.saturating_add(self.limits.window)
        };
        if vouched > beyond {
            return Some(vouched);
        }
        if matches!(self.state, Pulling::Quorum) && !self.sync() {
            return self.models.complete_after(self.step, self.cluster.q_ps());
        }
        None
    }

    fn sync(&self) -> bool {
        self.cluster.mode == Mode::Sync
    }

    /// The server of the `attempt`-th pull of this step, `(i + t + attempt) mod n_ps`, without
    /// overflow whatever the step.
    fn server_for(&self, attempt: usize) -> usize {
        let n = self.cluster.n_ps as u64;
        ((self.id as u64 % n + self.step % n + attempt as u64 % n) % n) as usize
    }

    fn start_step(&mut self, out: &mut Vec<Action>) -> Result<()> {
        self.replies.clear();
        self.state = Pulling::Quorum;
        if let Some(to) = self.jump_target() {
            out.push(Action::Record(Record::CaughtUp {
                from: self.step,
                to,
                peers: Vec::new(),
            }));
            self.step = to;
            self.models.advance(to);
            if !self.sync() && self.models.count(to) < self.cluster.q_ps() {
                let missing = (0..self.cluster.n_ps).filter(|&s| !self.models.has(to, s));
                for s in missing {
                    send(out, Node::Server(s), Message::Pull { step: to });
                }
            }
        }
        if self.sync() && !self.cluster.pulls_all_at(self.step) {
            self.next_server(0, out)
        } else {
            if self.sync() {
                self.pull_all(out);
                out.push(Action::SetTimer(Timer::QuorumTimeout {
                    step: self.step,
                    attempt: 0,
                }));
            } else {
                out.push(Action::SetTimer(Timer::Stall { step: self.step }));
            }
            self.try_quorum(out)
        }
    }

    /// Asks every server for its model of this step.
    fn pull_all(&self, out: &mut Vec<Action>) {
        let step = self.step;
        for s in 0..self.cluster.n_ps {
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
            // The median of the rejected replies only when a majority of them is correct
            // (2 f_ps + 1); fewer (the others timed out): wait for a quorum, counting the replies
            // already here (every reply stays in the buffer) and asking the servers not heard
            // from.
            if n <= 2 * self.cluster.f_ps {
                self.state = Pulling::Quorum;
                let step = self.step;
                let silent: Vec<usize> = (0..self.cluster.n_ps)
                    .filter(|&s| !self.models.has(step, s))
                    .collect();
                for s in silent {
                    send(out, Node::Server(s), Message::Pull { step });
                }
                out.push(Action::SetTimer(Timer::QuorumTimeout { step, attempt: 0 }));
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

    /// Whether server `s` was pulled at this step by attempt `attempt` or an earlier one, and
    /// has not been heard from.
    fn asked(&self, s: usize, attempt: usize) -> bool {
        (0..=attempt.min(self.cluster.n_ps)).any(|a| self.server_for(a) == s)
            && !self.replies.iter().any(|(r, _)| *r == s)
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
        let inserted = self.models.insert(s, step, params.clone());
        if let Err(why) = inserted {
            drop_msg(out, Node::Server(s), step, why);
        }
        if self.waiting() && self.jump_target().is_some() {
            return self.start_step(out);
        }
        match self.state {
            Pulling::Quorum if inserted.is_ok() => self.try_quorum(out),
            // The server asked, or one asked before that timed out and answers now (it was
            // behind, not dead): its reply is as good.
            Pulling::One { attempt } if step == self.step && self.asked(s, attempt) => {
                if inserted.is_err() {
                    return Ok(());
                }
                // The reply stays in the buffer with any other of this step: if every reply is
                // rejected, the quorum fallback counts them all.
                // The filters that need no gradient first: a rejected reply costs none.
                if let Err(r) = self.filters.check_model(step, &params) {
                    return self.reject(attempt, s, params, r, out);
                }
                let state = Pulling::Checking {
                    attempt,
                    server: s,
                    theta: params,
                };
                self.compute(state, out);
                Ok(())
            }
            // The server asked is past this step: ask the next one (its answer, with `f_ps`
            // others, may vouch for the later step).
            Pulling::One { attempt } if s == self.server_for(attempt) && step > self.step => {
                self.next_server(attempt + 1, out)
            }
            _ => Ok(()),
        }
    }

    /// The `attempt`-th server's reply `theta` failed a filter: recorded, kept for the median
    /// of all replies, and the next server asked.
    fn reject(
        &mut self,
        attempt: usize,
        server: usize,
        theta: Vector,
        r: Rejection,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        out.push(Action::Record(Record::Rejected {
            step: self.step,
            server,
            filter: r.filter,
            value: r.value,
            threshold: r.threshold,
        }));
        self.replies.push((server, theta));
        self.next_server(attempt + 1, out)
    }

    fn try_quorum(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let q = self.cluster.q_ps();
        if self.models.count(self.step) < q {
            return Ok(());
        }
        self.take_median(q, out)
    }

    /// Computes at the coordinate-wise median of the first `q` models of the step.
    fn take_median(&mut self, q: usize, out: &mut Vec<Action>) -> Result<()> {
        let (mut models, _) = self.models.take(self.step, q, None);
        let theta = if q == 1 {
            models.pop().expect("q models")
        } else {
            let rows = slices(&models);
            Arc::new(self.median.aggregate_rows(Rows::scattered(&rows)?)?.0)
        };
        self.compute(Pulling::Final { theta }, out);
        Ok(())
    }

    /// What it sends for gradient `g`: `g` itself without momentum, else the updated velocity.
    fn velocity(&mut self, g: Vector) -> Vector {
        let beta = self.momentum;
        if beta == 0.0 {
            return g;
        }
        // A fresh vector each step: the last one may still be in flight, shared, to a server.
        let v = match &self.velocity {
            Some(v) => Arc::new(
                v.iter()
                    .zip(g.iter())
                    .map(|(v, g)| beta * v + (1.0 - beta) * g)
                    .collect(),
            ),
            None => g,
        };
        self.velocity = Some(v.clone());
        v
    }

    fn computed(&mut self, grad: Vector, loss: f32, out: &mut Vec<Action>) -> Result<()> {
        let step = self.step;
        // Until the next pull or quorum, nothing is awaited (restored below if the gradient was
        // not one this worker asked for).
        let theta = match std::mem::replace(&mut self.state, Pulling::Quorum) {
            Pulling::Checking {
                attempt,
                server,
                theta,
            } => {
                if let Err(r) = self.filters.check_gradient(&theta, &grad) {
                    return self.reject(attempt, server, theta, r, out);
                }
                theta
            }
            Pulling::Final { theta } => theta,
            other => {
                self.state = other;
                drop_msg(out, Node::Worker(self.id), step, Refused::NotAsked);
                return Ok(());
            }
        };
        out.push(Action::Record(Record::Loss { step, loss }));
        let sent = self.velocity(grad.clone());
        if self.sync() {
            self.filters.accept(step, &theta, &grad, &sent);
        }
        for s in 0..self.cluster.n_ps {
            let msg = Message::Gradient {
                step,
                grad: sent.clone(),
            };
            send(out, Node::Server(s), msg);
        }
        self.last_sent = Some((step, sent));
        self.step = self.step.saturating_add(1);
        self.models.advance(self.step);
        self.start_step(out)
    }
}

fn send(out: &mut Vec<Action>, to: Node, msg: Message) {
    out.push(Action::Send { to, msg });
}
