//! A correct parameter-server replica as a state machine.
//!
//! Besides the algorithm (collect, aggregate, update, gather), a replica defends itself: senders
//! outside the cluster (or itself) are refused; what one sender can make it buffer is bounded
//! ([`Limits`]); pulls and catch-up requests are answered at most once per sender and step. A
//! replica that falls behind (restarted, partitioned, or shown a later step by `f + 1` distinct
//! peers beyond its window) catches up: it asks every peer for its [`Message::State`] and, once
//! `q_ps − 1` answered, adopts the coordinate-wise median of their models at the
//! `(f_ps + 1)`-th highest position they report (some correct replica reached it), then asks its
//! peers to send that step's messages again.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::buffer::{Limits, Refused, StepBuffer};
use super::config::{ClusterConfig, Mode};
use super::once::OncePerStep;
use super::snapshot::ServerSnapshot;
use super::types::{Action, Event, Message, Node, Record, Timer, Vector, slices};
use super::update::Update;
use crate::{Aggregator, Contraction, Error, MedianConfig, Result, Rows};

/// Where a server is within its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Waiting for `q_w` gradients of the step.
    Collecting,
    /// Updated; waiting for `q_ps` models of the gather.
    Gathering,
}

/// One peer's answer to a catch-up request: its position and model.
type PeerState = (u64, bool, Vector);

/// Replica `id`: collects gradients, aggregates, updates, gathers (ALGORITHMS.md).
#[derive(Debug)]
pub struct ServerCore {
    id: usize,
    cluster: ClusterConfig,
    limits: Limits,
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
    /// Pulls for future steps, answered when the step starts.
    pending_pulls: BTreeMap<u64, Vec<usize>>,
    /// Synchronous mode: the current step's deadline passed.
    deadline_passed: bool,
    /// Per worker: its pull answered at a step.
    answered: OncePerStep,
    /// Per replica: its catch-up request answered at a step.
    stated: OncePerStep,
    /// Per replica: the step of the gather model last sent again on its pull.
    resent: OncePerStep,
    /// Per node (servers, then workers): sent this step's messages again on a reconnection
    /// (once per peer and step, however often it reconnects).
    reconnected: OncePerStep,
    /// Its latest gather model, sent again to replicas that missed it.
    last_gather: Option<(u64, Vector)>,
    /// Catching up: each replica's state so far.
    catching_up: Option<Vec<Option<PeerState>>>,
    /// Restored or restarted: catch up before taking part.
    rejoining: bool,
    /// The step whose stall timer is armed (one chain per step).
    stall_armed: Option<u64>,
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
        if id >= cluster.n_ps {
            return Err(Error::Config(format!(
                "server id {id} out of range: the cluster has {} servers",
                cluster.n_ps
            )));
        }
        rule.bound().check(&rule.name(), cluster.q_w(), rule.f())?;
        let contraction = Box::new(MedianConfig::new(cluster.q_ps(), 0).init()?);
        let dim = params.len();
        let limits = Limits::default();
        Ok(Self {
            id,
            cluster,
            limits,
            step_model: Arc::new(params.clone()),
            pending_pulls: BTreeMap::new(),
            deadline_passed: false,
            params,
            rule,
            contraction,
            update,
            step: 0,
            phase: Phase::Collecting,
            grads: StepBuffer::new(dim, cluster.n_w, limits),
            models: StepBuffer::new(dim, cluster.n_ps, limits),
            answered: OncePerStep::new(cluster.n_w),
            stated: OncePerStep::new(cluster.n_ps),
            resent: OncePerStep::new(cluster.n_ps),
            reconnected: OncePerStep::new(cluster.n_ps + cluster.n_w),
            last_gather: None,
            catching_up: None,
            rejoining: false,
            stall_armed: None,
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

    /// Buffers with `limits` rather than [`Limits::default`] (before the run starts).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        let dim = self.params.len();
        self.limits = limits;
        self.grads = StepBuffer::new(dim, self.cluster.n_w, limits);
        self.models = StepBuffer::new(dim, self.cluster.n_ps, limits);
        self.grads.advance(self.step);
        self.models.advance(self.step);
        self
    }

    /// Starts as a replica that was down (restarted with lost state, or restored from an old
    /// snapshot): on [`Event::Start`] it catches up with its peers before it takes part.
    pub fn rejoining(mut self) -> Self {
        self.rejoining = true;
        self
    }

    /// Its state, to write to disk and [`restore`](Self::restore) after a restart.
    pub fn snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            id: self.id,
            step: self.step,
            gathering: self.phase == Phase::Gathering,
            params: self.params.clone(),
            step_model: self.step_model.to_vec(),
            update: self.update.state(),
        }
    }

    /// This replica (built as by [`new`](Self::new)) with the state of `snapshot`; it rejoins
    /// through catch-up on [`Event::Start`].
    pub fn restore(mut self, snapshot: ServerSnapshot) -> Result<Self> {
        let dim = self.params.len();
        if snapshot.id != self.id
            || snapshot.params.len() != dim
            || snapshot.step_model.len() != dim
        {
            return Err(Error::Input(format!(
                "snapshot of server {} with {} parameters does not fit server {} with {dim}",
                snapshot.id,
                snapshot.params.len(),
                self.id
            )));
        }
        self.update.set_state(&snapshot.update)?;
        self.step = snapshot.step;
        self.phase = if snapshot.gathering {
            Phase::Gathering
        } else {
            Phase::Collecting
        };
        self.params = snapshot.params;
        self.step_model = Arc::new(snapshot.step_model);
        self.grads.advance(self.step);
        self.models.advance(self.step);
        Ok(self.rejoining())
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

    /// Vectors buffered from peers (gradients and gather models), what a flood could grow.
    pub fn buffered(&self) -> usize {
        self.grads.held() + self.models.held()
    }

    fn is_peer(&self, n: Node) -> bool {
        match n {
            Node::Worker(w) => w < self.cluster.n_w,
            Node::Server(s) => s < self.cluster.n_ps && s != self.id,
        }
    }

    fn peers(&self) -> impl Iterator<Item = usize> + use<> {
        let me = self.id;
        (0..self.cluster.n_ps).filter(move |&s| s != me)
    }

    fn sync(&self) -> bool {
        self.cluster.mode == Mode::Sync
    }

    /// Handles one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        match event {
            Event::Start if self.rejoining => self.begin_catch_up(&mut out),
            Event::Start => self.start_step(&mut out),
            Event::Timer(t) => self.timer(t, &mut out)?,
            Event::Connected { peer } if self.is_peer(peer) => self.connected(peer, &mut out),
            Event::Received { from, msg } if !self.is_peer(from) => {
                drop_msg(&mut out, from, msg.step(), Refused::UnknownSender);
            }
            Event::Received { from, msg } => self.received(from, msg, &mut out)?,
            Event::Connected { .. } | Event::GradientComputed { .. } => {}
        }
        Ok(out)
    }

    fn received(&mut self, from: Node, msg: Message, out: &mut Vec<Action>) -> Result<()> {
        let step = msg.step();
        let refused = match (from, msg) {
            (Node::Worker(w), Message::Gradient { step, grad }) => {
                self.grads.insert(w, step, grad).err()
            }
            (Node::Server(s), Message::Model { step, params }) => {
                self.models.insert(s, step, params).err()
            }
            (Node::Worker(w), Message::Pull { step }) => {
                self.pull(w, step, out);
                None
            }
            (Node::Server(s), Message::Pull { step }) => self.resend_gather(s, step, out).err(),
            (Node::Server(s), Message::CatchUp { .. }) => self.state_for(s, out).err(),
            (
                Node::Server(s),
                Message::State {
                    step,
                    gathering,
                    params,
                },
            ) => {
                let r = self.peer_state(s, (step, gathering, params)).err();
                self.try_adopt(out)?;
                r
            }
            _ => Some(Refused::Unexpected),
        };
        if let Some(why) = refused {
            drop_msg(out, from, step, why);
        }
        self.check_lag(out);
        self.progress(out)
    }

    fn timer(&mut self, timer: Timer, out: &mut Vec<Action>) -> Result<()> {
        if timer.step() != self.step {
            return Ok(());
        }
        if self.rejoining {
            // Still waiting for q_ps − 1 states: ask again, until enough peers are back, and
            // answer again a peer still missing (it may be rejoining too, and have lost our
            // answer): bounded by this timer.
            if let Timer::Stall { step } = timer {
                if let Some(states) = &self.catching_up {
                    for s in self.peers().filter(|&s| states[s].is_none()) {
                        self.stated.forget(s);
                    }
                }
                self.retry_catch_up(out);
                out.push(Action::SetTimer(Timer::Stall { step }));
            }
            return Ok(());
        }
        match (timer, self.phase) {
            (Timer::StepDeadline { .. }, Phase::Collecting) => {
                self.retry_catch_up(out);
                self.deadline_passed = true;
                self.progress(out)?;
            }
            (Timer::GatherDeadline { .. }, Phase::Gathering) => {
                let got = self.models.count(self.step);
                out.push(Action::Record(Record::GatherSkipped {
                    step: self.step,
                    got,
                    needed: self.cluster.q_ps(),
                }));
                self.finish_step(out);
                self.progress(out)?;
            }
            (Timer::Stall { step }, phase) => {
                self.stalled(phase, out);
                out.push(Action::SetTimer(Timer::Stall { step }));
            }
            _ => {}
        }
        Ok(())
    }

    /// The stall timer of an asynchronous step passed: report, ask the missing peers to send
    /// again, and ask every replica where it is (this one may be the one behind).
    fn stalled(&mut self, phase: Phase, out: &mut Vec<Action>) {
        let step = self.step;
        let (waiting, have, need, ask): (_, _, _, Vec<Node>) = match phase {
            Phase::Collecting => (
                "gradients",
                self.grads.count(step),
                self.cluster.q_w(),
                (0..self.cluster.n_w)
                    .filter(|&w| !self.grads.has(step, w))
                    .map(Node::Worker)
                    .collect(),
            ),
            Phase::Gathering => (
                "gather",
                self.models.count(step),
                self.cluster.q_ps(),
                self.peers()
                    .filter(|&s| !self.models.has(step, s))
                    .map(Node::Server)
                    .collect(),
            ),
        };
        out.push(Action::Record(Record::Stalled {
            step,
            waiting,
            have,
            need,
        }));
        for to in ask {
            send(out, to, Message::Pull { step });
        }
        if self.catching_up.is_some() {
            self.retry_catch_up(out);
        } else {
            self.begin_catch_up(out);
        }
    }

    /// A catch-up still waiting for states asks again the replicas that did not answer (they
    /// refuse a second request at the same step of theirs, but may have moved on). Called from
    /// timers only, so a lagging replica's requests stay bounded.
    fn retry_catch_up(&mut self, out: &mut Vec<Action>) {
        let Some(states) = &self.catching_up else {
            return;
        };
        let missing: Vec<usize> = self.peers().filter(|&s| states[s].is_none()).collect();
        for s in missing {
            send(out, Node::Server(s), Message::CatchUp { step: self.step });
        }
    }

    /// A reconnected peer gets this step's messages again (the old connection may have lost
    /// them), once per peer and step however often it reconnects: the model of the step (or the
    /// reply to its pull), the latest gather model, the answer to its catch-up request.
    fn connected(&mut self, peer: Node, out: &mut Vec<Action>) {
        let slot = match peer {
            Node::Server(s) => s,
            Node::Worker(w) => self.cluster.n_ps + w,
        };
        if !self.reconnected.first(slot, self.step) {
            return;
        }
        match peer {
            Node::Worker(w) => {
                let pulled = self.answered.done(w, self.step);
                if !self.rejoining && (!self.sync() || pulled) {
                    self.reply(w, out);
                }
            }
            Node::Server(s) => {
                if let Some((g, v)) = &self.last_gather
                    && g.saturating_add(1) >= self.step
                {
                    let msg = Message::Model {
                        step: *g,
                        params: v.clone(),
                    };
                    send(out, peer, msg);
                }
                if self.stated.done(s, self.step) {
                    send(out, peer, self.state());
                }
                if let Some(states) = &self.catching_up
                    && states[s].is_none()
                {
                    send(out, peer, Message::CatchUp { step: self.step });
                }
            }
        }
    }

    fn progress(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if self.catching_up.is_some() && self.rejoining {
            return Ok(());
        }
        loop {
            match self.phase {
                Phase::Collecting
                    if self.grads.count(self.step) >= self.cluster.q_w()
                        || self.deadline_passed =>
                {
                    let q = self.grads.count(self.step).min(self.cluster.q_w());
                    let needed = self.rule.bound().min_inputs(self.rule.f()).max(1);
                    let (grads, from) = self.grads.take(self.step, q, None);
                    if q >= needed {
                        let rows = slices(&grads);
                        let (aggregate, kept) =
                            self.rule.aggregate_rows(Rows::scattered(&rows)?)?;
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
                        self.enter_gather(out);
                    } else {
                        self.finish_step(out);
                    }
                }
                Phase::Gathering if self.models.count(self.step) >= self.cluster.q_ps() => {
                    // Its own model first, then the first q_ps − 1 others (ALGORITHMS.md).
                    let q = self.cluster.q_ps();
                    let (models, from) = self.models.take(self.step, q, Some(self.id));
                    let rows = slices(&models);
                    let median = self.contraction.contract_rows(Rows::scattered(&rows)?)?;
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

    /// Updated at a gather step: send the model to every replica and wait for theirs.
    fn enter_gather(&mut self, out: &mut Vec<Action>) {
        self.phase = Phase::Gathering;
        let step = self.step;
        let mine: Vector = Arc::new(self.params.clone());
        out.push(Action::Record(Record::Model {
            step,
            gathered: false,
            params: mine.clone(),
        }));
        // Our own model counts; a refusal here would mean a non-finite update.
        if let Err(why) = self.models.insert(self.id, step, mine.clone())
            && why != Refused::Duplicate
        {
            drop_msg(out, Node::Server(self.id), step, why);
        }
        self.last_gather = Some((step, mine.clone()));
        for s in self.peers() {
            let msg = Message::Model {
                step,
                params: mine.clone(),
            };
            send(out, Node::Server(s), msg);
        }
        if self.sync() {
            out.push(Action::SetTimer(Timer::GatherDeadline { step }));
        } else {
            // Already set when the step began here; not after a catch-up into this gather,
            // and without it a gather whose models went by while this replica was away (or a
            // catch-up whose answers were lost) is never asked for again.
            self.arm_stall(out);
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
        self.move_to(self.step.saturating_add(1));
        self.start_step(out);
    }

    /// Moves to the start of `step`, dropping what belongs to earlier steps.
    fn move_to(&mut self, step: u64) {
        self.step = step;
        self.phase = Phase::Collecting;
        self.deadline_passed = false;
        self.grads.advance(step);
        self.models.advance(step);
    }

    /// Async and vanilla: the model goes to every worker, and a stall timer is set. Sync: pulls
    /// that waited for this step are answered, and the step's deadline is set.
    fn start_step(&mut self, out: &mut Vec<Action>) {
        let step = self.step;
        let waiting = self.pending_pulls.remove(&step).unwrap_or_default();
        self.pending_pulls = self.pending_pulls.split_off(&step);
        if self.sync() {
            for w in waiting {
                self.answered.mark(w, step);
                self.reply(w, out);
            }
            out.push(Action::SetTimer(Timer::StepDeadline { step }));
            return;
        }
        for w in 0..self.cluster.n_w {
            self.reply(w, out);
        }
        self.arm_stall(out);
    }

    fn reply(&self, worker: usize, out: &mut Vec<Action>) {
        let msg = Message::Model {
            step: self.step,
            params: self.step_model.clone(),
        };
        send(out, Node::Worker(worker), msg);
    }

    /// A worker's pull: answered now (once per worker and step) for this step or an older one
    /// (a lagging worker learns where the replica is), held for a future step within the window,
    /// refused beyond it.
    fn pull(&mut self, worker: usize, step: u64, out: &mut Vec<Action>) {
        if step <= self.step {
            if self.rejoining || !self.answered.first(worker, self.step) {
                drop_msg(out, Node::Worker(worker), step, Refused::Repeated);
                return;
            }
            self.reply(worker, out);
        } else if step - self.step <= self.limits.window {
            let waiting = self.pending_pulls.entry(step).or_default();
            if !waiting.contains(&worker) {
                waiting.push(worker);
            }
        } else {
            self.grads.claim(worker, step);
            drop_msg(out, Node::Worker(worker), step, Refused::TooFarAhead);
        }
    }

    /// A replica that missed our gather model of `step` asks for it again.
    fn resend_gather(&mut self, s: usize, step: u64, out: &mut Vec<Action>) -> Result<(), Refused> {
        let Some((g, v)) = &self.last_gather else {
            return Err(Refused::NotAsked);
        };
        if *g != step {
            return Err(Refused::NotAsked);
        }
        if !self.resent.first(s, step) {
            return Err(Refused::Repeated);
        }
        let msg = Message::Model {
            step,
            params: v.clone(),
        };
        send(out, Node::Server(s), msg);
        Ok(())
    }

    /// A replica catching up asks where we are: answered once per replica and step (a replica
    /// that is itself rejoining answers with where it was restored: a low position, which the
    /// asker's choice of the `(f_ps + 1)`-th highest tolerates, and without which replicas
    /// restarted together would wait for each other forever).
    fn state_for(&mut self, s: usize, out: &mut Vec<Action>) -> Result<(), Refused> {
        if !self.stated.first(s, self.step) {
            return Err(Refused::Repeated);
        }
        send(out, Node::Server(s), self.state());
        Ok(())
    }

    /// Where it is, and its model there.
    fn state(&self) -> Message {
        let gathering = self.phase == Phase::Gathering;
        let params = match (&self.last_gather, gathering) {
            (Some((g, v)), true) if *g == self.step => v.clone(),
            (_, true) => Arc::new(self.params.clone()),
            (_, false) => self.step_model.clone(),
        };
        Message::State {
            step: self.step,
            gathering,
            params,
        }
    }

    /// Evidence that it fell behind: `f + 1` distinct replicas (or workers) tagged messages
    /// with a step beyond its window.
    fn check_lag(&mut self, out: &mut Vec<Action>) {
        let horizon = self.step.saturating_add(self.limits.window);
        let servers = self.models.vouched(self.cluster.f_ps + 1);
        let workers = self.grads.vouched(self.cluster.f_w + 1);
        if servers.max(workers) > horizon {
            self.begin_catch_up(out);
        }
    }

    fn begin_catch_up(&mut self, out: &mut Vec<Action>) {
        if self.catching_up.is_some() || self.cluster.n_ps < 2 {
            if self.rejoining && self.cluster.n_ps < 2 {
                self.rejoining = false;
                self.resume(out);
            }
            return;
        }
        self.catching_up = Some(vec![None; self.cluster.n_ps]);
        for s in self.peers() {
            send(out, Node::Server(s), Message::CatchUp { step: self.step });
        }
        if self.rejoining {
            self.arm_stall(out);
        }
    }

    /// Sets the stall timer of this step, unless it is set already.
    fn arm_stall(&mut self, out: &mut Vec<Action>) {
        if self.stall_armed != Some(self.step) {
            self.stall_armed = Some(self.step);
            out.push(Action::SetTimer(Timer::Stall { step: self.step }));
        }
    }

    fn peer_state(&mut self, s: usize, state: PeerState) -> Result<(), Refused> {
        let dim = self.params.len();
        let Some(states) = &mut self.catching_up else {
            return Err(Refused::NotAsked);
        };
        if state.2.len() != dim {
            return Err(Refused::WrongDimension);
        }
        if !crate::rows::all_finite(&state.2) {
            return Err(Refused::NotFinite);
        }
        if states[s].is_some() {
            return Err(Refused::Duplicate);
        }
        states[s] = Some(state);
        Ok(())
    }

    /// With `q_ps − 1` states, adopts the median of their models at the `(f_ps + 1)`-th highest
    /// position, if it is ahead of ours.
    fn try_adopt(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let Some(states) = &self.catching_up else {
            return Ok(());
        };
        let got: Vec<(usize, &PeerState)> = states
            .iter()
            .enumerate()
            .filter_map(|(s, st)| st.as_ref().map(|st| (s, st)))
            .collect();
        let needed = self.cluster.q_ps().saturating_sub(1).max(1);
        if got.len() < needed {
            return Ok(());
        }
        let mut positions: Vec<(u64, bool)> = got.iter().map(|(_, st)| (st.0, st.1)).collect();
        positions.sort_unstable_by(|a, b| b.cmp(a));
        let target = positions[self.cluster.f_ps.min(positions.len() - 1)];
        let here = (self.step, self.phase == Phase::Gathering);
        if target <= here {
            // Not behind after all: go on (a restored replica resumes where it was).
            self.catching_up = None;
            if std::mem::take(&mut self.rejoining) {
                self.resume(out);
            }
            return Ok(());
        }
        // The median over the states near the target when 2 f_ps + 1 are (a replica restarted
        // from scratch answers with the initial model), else over all of them: either way a
        // majority of the rows is correct, and the median lies within their range.
        let near: Vec<(usize, &PeerState)> = got
            .iter()
            .copied()
            .filter(|(_, st)| st.0.saturating_add(self.limits.window) >= target.0)
            .collect();
        let got = if near.len() > 2 * self.cluster.f_ps {
            near
        } else {
            got
        };
        let peers: Vec<usize> = got.iter().map(|(s, _)| *s).collect();
        let dim = self.params.len();
        let rows: Vec<f32> = got
            .iter()
            .flat_map(|(_, st)| st.2.iter().copied())
            .collect();
        let n = got.len();
        self.catching_up = None;
        self.rejoining = false;
        let median = if n == 1 {
            rows
        } else {
            MedianConfig::new(n, 0)
                .init()?
                .aggregate_rows(Rows::new(&rows, n, dim)?)?
                .0
        };
        let (step, gathering) = target;
        out.push(Action::Record(Record::CaughtUp {
            from: self.step,
            to: step,
            peers,
        }));
        self.move_to(step);
        self.params = median;
        self.step_model = Arc::new(self.params.clone());
        if gathering {
            self.gather_again(out);
        } else {
            self.start_step(out);
            for w in 0..self.cluster.n_w {
                send(out, Node::Worker(w), Message::Pull { step });
            }
        }
        Ok(())
    }

    /// Takes part again at its own position (after a restore that found it was not behind).
    fn resume(&mut self, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Collecting => self.start_step(out),
            Phase::Gathering => self.gather_again(out),
        }
    }

    /// Enters the gather of its step after a restore or a catch-up, and asks every replica for
    /// its gather model of the step again (sent while this one was away).
    fn gather_again(&mut self, out: &mut Vec<Action>) {
        self.enter_gather(out);
        let step = self.step;
        for s in self.peers() {
            send(out, Node::Server(s), Message::Pull { step });
        }
    }
}

fn send(out: &mut Vec<Action>, to: Node, msg: Message) {
    out.push(Action::Send { to, msg });
}

pub(super) fn drop_msg(out: &mut Vec<Action>, from: Node, step: u64, reason: Refused) {
    out.push(Action::Record(Record::Dropped { from, step, reason }));
}
