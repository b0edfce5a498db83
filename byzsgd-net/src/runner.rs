//! One node of a cluster, driven by tokio: its state machine, timers, gradients, checkpoints
//! and journal, between the transport ([`crate::transport`]) and the node layer.
//!
//! The state machine runs on an executor of its own ([`Executor::Thread`]: a thread per node,
//! so MDA's subset search and the medians never stall the sockets) or inline on the async
//! runtime ([`Executor::Inline`]: gradients too, so a simulated network stays deterministic).
//! It takes [`Input`]s one at a time and routes the actions: messages into the peers'
//! [`Outbox`]es, timers onto the runtime's clock, gradients onto the blocking pool, records into
//! the [`Journal`].
//!
//! A node finishes once it reached `steps`; then it writes its final model, stops taking
//! gradients and models, and lingers (answering pulls and catch-ups, so slower peers can finish)
//! until `linger` passes (`Duration::MAX`: until stopped) or it is stopped; then it lets its
//! queues drain. A node that makes no progress (a server's update, contraction or catch-up, a
//! worker's gradient) for `give_up` ends unfinished, with [`Finished::gave_up`] saying how long it
//! waited and which peers it could not dial. A node with [`Checkpointing`] (every server and every worker
//! of a `byzsgd` cluster) writes its checkpoint every `every` steps, when stopped, and at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byzsgd_core::node::{Cluster, GradientSource, ServerNode, Timers, WorkerNode, label};
use byzsgd_core::protocol::{Action, ClusterConfig, Event, Message, Node, Record, Timer};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{self, Owner, Snapshot};
use crate::journal::{Entry, Journal, cpu_seconds, hash_hex, peak_rss, unix_now};
use crate::transport::{Accept, Connect, Input, Local, Outbox, serve, spawn_dialler};
use crate::{NetError, Result, id};

/// A node's state machine.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Machine {
    /// A server replica.
    Server(ServerNode),
    /// A worker.
    Worker(WorkerNode),
}

impl Machine {
    fn handle(&mut self, e: Event) -> byzsgd_core::Result<Vec<Action>> {
        match self {
            Machine::Server(s) => s.handle(e),
            Machine::Worker(w) => w.handle(e),
        }
    }

    /// The step it is at.
    pub fn step(&self) -> u64 {
        match self {
            Machine::Server(s) => s.step(),
            Machine::Worker(w) => w.step(),
        }
    }

    /// Its state, for a checkpoint.
    pub fn snapshot(&self) -> Snapshot {
        match self {
            Machine::Server(s) => Snapshot::Server(s.snapshot()),
            Machine::Worker(w) => Snapshot::Worker(w.snapshot()),
        }
    }

    /// Node `me` of `cluster` restored from its checkpoint: a server from its replica's state
    /// (it then checks with its peers whether it fell behind), a worker from its step, momentum
    /// and filters. `init` is the initial model.
    pub fn resumed(
        cluster: &Cluster,
        me: Node,
        init: Vec<f32>,
        snapshot: Snapshot,
    ) -> Result<Machine> {
        let dim = init.len();
        let machine = match (me, snapshot) {
            (Node::Server(i), Snapshot::Server(s)) if s.id == i => {
                Machine::Server(cluster.restarted_server(i, init, Some(s))?)
            }
            (Node::Worker(i), Snapshot::Worker(w)) if w.id == i => {
                Machine::Worker(cluster.resumed_worker(i, dim, Some(w))?)
            }
            _ => {
                return Err(NetError::Config(format!(
                    "the checkpoint given to {} holds another node's state",
                    id::name(me)
                )));
            }
        };
        Ok(machine)
    }
}

/// Where the state machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    /// A thread of its own; gradients on the blocking pool.
    Thread,
    /// Inline on the async runtime, gradients too (deterministic under a simulated network).
    Inline,
}

/// Wall-clock durations of the protocol's timers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WallTimers {
    /// [`Timer::StepDeadline`] and [`Timer::GatherDeadline`].
    pub step_deadline: Duration,
    /// [`Timer::PullTimeout`], and the first wait of [`Timer::QuorumTimeout`] (doubled at each
    /// attempt).
    pub pull_timeout: Duration,
    /// [`Timer::Stall`].
    pub stall: Duration,
}

impl WallTimers {
    /// The timers of a cluster file (in units of one gradient computation), with `unit` the
    /// wall-clock length of that unit.
    pub fn scaled(t: Timers, unit: Duration) -> Self {
        let s = |x: f64| unit.mul_f64(x.max(0.0));
        Self {
            step_deadline: s(t.step_deadline),
            pull_timeout: s(t.pull_timeout),
            stall: s(t.stall),
        }
    }

    fn of(&self, t: Timer) -> Duration {
        match t {
            Timer::StepDeadline { .. } | Timer::GatherDeadline { .. } => self.step_deadline,
            Timer::PullTimeout { .. } => self.pull_timeout,
            Timer::QuorumTimeout { attempt, .. } => self.pull_timeout * (1u32 << attempt.min(10)),
            Timer::Stall { .. } => self.stall,
        }
    }
}

/// Where a node keeps its checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    /// The file.
    pub path: PathBuf,
    /// Every this many steps (0: only when stopped and at the end).
    pub every: u64,
    /// Whose it is.
    pub owner: Owner,
}

/// One node, ready to run.
pub struct NodeRun {
    /// Who it is, its TLS, hello and bounds.
    pub local: Local,
    /// Its state machine.
    pub machine: Machine,
    /// The cluster's shape.
    pub shape: ClusterConfig,
    /// Whether it runs an attack.
    pub byzantine: bool,
    /// Gradients (a worker) and test accuracy (a server that evaluates).
    pub source: Option<Box<dyn GradientSource>>,
    /// Steps to train.
    pub steps: u64,
    /// Evaluate (a server) every this many steps and at the last; 0: only at the last.
    pub eval_every: Option<u64>,
    /// Timers.
    pub timers: WallTimers,
    /// The peers it dials and their addresses.
    pub peers: Vec<(Node, String)>,
    /// How long it lingers after finishing (`Duration::MAX`: until stopped).
    pub linger: Duration,
    /// How long it waits without progress (an update, a contraction, a gradient, a catch-up)
    /// before it gives up (`None`: for ever).
    pub give_up: Option<Duration>,
    /// Where the state machine runs.
    pub executor: Executor,
    /// Its checkpoint (a server's replica state, a worker's step and momentum).
    pub checkpoint: Option<Checkpointing>,
    /// Whether the machine was restored from a checkpoint (or lost its state): its first
    /// connection to each peer then counts as a reconnection ([`Event::Connected`]), so it sends
    /// its current step's messages again. A whole cluster resumed at once is at several steps,
    /// and each node's last messages before the stop went to processes that no longer exist:
    /// once, before this, a resumed cluster stalled with replicas in a gather and workers a step
    /// ahead (not reproduced on demand since: a guard, not a proven fix).
    pub resumed: bool,
    /// Its journal.
    pub journal: Option<Journal>,
}

impl std::fmt::Debug for NodeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRun")
            .field("me", &self.local.me)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// How a node's run ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The step it reached.
    pub step: u64,
    /// Whether it reached the last step (rather than being stopped before).
    pub completed: bool,
    /// Its counts by kind (as the journal's [`Entry::Count`]).
    pub counts: BTreeMap<String, usize>,
    /// A server's parameters at the end (the correct machine's).
    pub params: Option<Vec<f32>>,
    /// Set when it gave up: no progress (an update, a contraction, a gradient, a catch-up) for
    /// `give_up`.
    pub gave_up: Option<GaveUp>,
}

/// A node that gave up waiting: how long it made no progress, and the peers it could not dial
/// then.
#[derive(Debug, Clone)]
pub struct GaveUp {
    /// How long it made no progress.
    pub waited: Duration,
    /// The peers its dialler held no connection to at the end.
    pub unreachable: Vec<Node>,
    /// How many peers it dials in all.
    pub peers: usize,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no progress for {:.0} s; ", self.waited.as_secs_f64())?;
        if self.unreachable.is_empty() {
            write!(
                f,
                "it could dial every peer, yet no quorum of them moved it"
            )
        } else {
            let names: Vec<String> = self.unreachable.iter().map(|&n| id::name(n)).collect();
            write!(
                f,
                "it could not dial {} of its {} peers: {}",
                names.len(),
                self.peers,
                names.join(", ")
            )
        }
    }
}

/// A record worth counting: its step, label, peer, and whether it counts as rejected (the
/// simulator's [`Collector`](byzsgd_core::node::Collector) counts the same).
fn count_of(me: Node, r: &Record) -> Option<(u64, String, Option<Node>, bool)> {
    let (kind, detail) = r.counted()?;
    let peer = match r {
        Record::Rejected { server, .. } => Some(Node::Server(*server)),
        Record::Dropped { from, .. } => Some(*from),
        _ => None,
    };
    Some((r.step(), label(kind, detail), peer, r.rejects(me)))
}

struct Driver {
    me: Node,
    machine: Machine,
    shape: ClusterConfig,
    byzantine: bool,
    source: Option<Arc<Mutex<Box<dyn GradientSource>>>>,
    steps: u64,
    eval_every: Option<u64>,
    timers: WallTimers,
    executor: Executor,
    outboxes: BTreeMap<Node, Outbox>,
    inputs: mpsc::Sender<Input>,
    handle: tokio::runtime::Handle,
    checkpoint: Option<Checkpointing>,
    last_checkpoint: u64,
    journal: Option<Journal>,
    counts: BTreeMap<String, usize>,
    /// Counts of `pending_step` not yet in the journal.
    pending: BTreeMap<(String, Option<Node>, bool), usize>,
    pending_step: Option<u64>,
    finished: bool,
    finished_at: Option<Instant>,
    /// When it last made progress (see `record`).
    progress: Instant,
    /// Set when it left its loop because its patience ran out.
    gave_up: Option<GaveUp>,
}

impl Driver {
    fn journal(&mut self, e: Entry) {
        if let Some(j) = &mut self.journal
            && let Err(err) = j.write(&e)
        {
            tracing::error!("journal: {err}");
            self.journal = None;
        }
    }

    /// Counts `what` at `step`; the journal gets one line per step and kind (and peer), so a
    /// flood of refused messages cannot flood the disk.
    fn count(&mut self, step: u64, what: String, peer: Option<Node>, rejected: bool) {
        *self.counts.entry(what.clone()).or_default() += 1;
        if self.pending_step != Some(step) {
            self.flush_counts();
            self.pending_step = Some(step);
        }
        *self.pending.entry((what, peer, rejected)).or_default() += 1;
    }

    fn flush_counts(&mut self) {
        let Some(step) = self.pending_step.take() else {
            return;
        };
        for ((what, peer, rejected), n) in std::mem::take(&mut self.pending) {
            self.journal(Entry::Count {
                step,
                what,
                peer: peer.map(id::name),
                rejected,
                n,
            });
        }
    }

    /// Handles one input.
    fn on_input(&mut self, input: Input) -> Result<()> {
        match input {
            Input::Event(e) => {
                if self.finished && !lingering_takes(&e) {
                    return Ok(());
                }
                self.handle(e)
            }
            Input::Fault { peer, fault } => {
                let step = self.machine.step();
                self.count(step, format!("fault: {}", fault.kind()), Some(peer), true);
                Ok(())
            }
            Input::Failed(why) => Err(NetError::Failed(why)),
        }
    }

    fn handle(&mut self, e: Event) -> Result<()> {
        let actions = self.machine.handle(e)?;
        for a in actions {
            self.route(a)?;
        }
        self.after()
    }

    fn route(&mut self, a: Action) -> Result<()> {
        match a {
            Action::Send { to, msg } => self.send(to, msg),
            Action::SetTimer(t) => {
                let (after, inputs) = (self.timers.of(t), self.inputs.clone());
                self.handle.spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = inputs.send(Input::Event(Event::Timer(t))).await;
                });
            }
            Action::ComputeGradient { step, params } => self.compute(step, params)?,
            Action::Record(r) => self.record(r)?,
        }
        Ok(())
    }

    fn send(&mut self, to: Node, msg: Message) {
        let step = msg.step();
        let Some(outbox) = self.outboxes.get(&to) else {
            tracing::warn!("no connection to {} for a message", id::name(to));
            return;
        };
        if !outbox.push(msg) {
            self.count(step, "queue full".into(), Some(to), false);
        }
    }

    fn compute(&mut self, step: u64, params: byzsgd_core::protocol::Vector) -> Result<()> {
        let Node::Worker(w) = self.me else {
            return Ok(());
        };
        let Some(source) = self.source.clone() else {
            return Err(NetError::Config(
                "a worker without a gradient source".into(),
            ));
        };
        let job = move || {
            let mut s = source.lock().expect("not poisoned");
            s.gradient(w, step, &params)
        };
        match self.executor {
            Executor::Inline => {
                let (grad, loss) = job()?;
                let grad = Arc::new(grad);
                self.handle(Event::GradientComputed { step, grad, loss })?;
            }
            Executor::Thread => {
                let inputs = self.inputs.clone();
                self.handle.spawn(async move {
                    match tokio::task::spawn_blocking(job).await {
                        Ok(Ok((grad, loss))) => {
                            let grad = Arc::new(grad);
                            let e = Event::GradientComputed { step, grad, loss };
                            let _ = inputs.send(Input::Event(e)).await;
                        }
                        // A worker that cannot compute its gradient cannot take part: it ends
                        // with the error, rather than waiting until it gives up and blaming
                        // its peers.
                        Ok(Err(e)) => {
                            let why = format!("gradient of step {step}: {e}");
                            let _ = inputs.send(Input::Failed(why)).await;
                        }
                        Err(e) => {
                            let why = format!("gradient of step {step}: {e}");
                            let _ = inputs.send(Input::Failed(why)).await;
                        }
                    }
                });
            }
        }
        Ok(())
    }

    fn record(&mut self, r: Record) -> Result<()> {
        if let Some((step, what, peer, rejected)) = count_of(self.me, &r) {
            self.count(step, what, peer, rejected);
        }
        // Progress is what a quorum of correct peers made possible: a server's update or
        // contraction, a worker's gradient, a catch-up. Not a new step number: a synchronous
        // server cut off from everyone still moves through its steps by its deadlines alone.
        if matches!(
            r,
            Record::Aggregated { .. }
                | Record::Gathered { .. }
                | Record::CaughtUp { .. }
                | Record::Loss { .. }
        ) {
            self.progress = Instant::now();
        }
        match r {
            Record::Model {
                step,
                gathered,
                params,
            } => {
                let hashed = gathered || step + 1 >= self.steps;
                self.journal(Entry::Model {
                    step,
                    gathered,
                    hash: hashed.then(|| hash_hex(&params)),
                    unix: unix_now(),
                    cpu: cpu_seconds(),
                });
                // The step's last model: after the gather on gather steps.
                let last = gathered || !self.shape.gathers_at(step);
                let sample = self
                    .eval_every
                    .is_some_and(|e| (e > 0 && (step + 1) % e == 0) || step + 1 == self.steps);
                if last && sample && !self.byzantine {
                    if let Some(j) = &self.journal
                        && let Err(e) = j.model(step, &params)
                    {
                        tracing::error!("writing the model of step {step}: {e}");
                    }
                    if let Some(source) = &self.source {
                        let acc = source.lock().expect("not poisoned").evaluate(&params)?;
                        if let Some(accuracy) = acc {
                            self.journal(Entry::Eval { step, accuracy });
                        }
                    }
                }
            }
            Record::Aggregated { step, kept, .. } => self.journal(Entry::Aggregated { step, kept }),
            Record::Loss { step, loss } => self.journal(Entry::Loss {
                step,
                loss,
                cpu: cpu_seconds(),
            }),
            _ => {}
        }
        Ok(())
    }

    /// After each event: checkpoints, and whether the node finished.
    fn after(&mut self) -> Result<()> {
        let step = self.machine.step();
        if let Some(c) = &self.checkpoint
            && c.every > 0
            && step >= self.last_checkpoint.saturating_add(c.every)
        {
            self.write_checkpoint();
        }
        if !self.finished && step >= self.steps {
            self.finished = true;
            self.write_checkpoint();
            self.flush_counts();
            self.journal(Entry::Finished {
                step,
                unix: unix_now(),
                peak_rss: peak_rss(),
            });
            // The final model now, not at the end: a node may linger until stopped.
            self.final_outputs()?;
            tracing::info!("finished at step {step}");
        }
        Ok(())
    }

    /// Writes the checkpoint; a failure (a full disk) is logged, not fatal: the node trains on
    /// and tries again at the next checkpoint.
    fn write_checkpoint(&mut self) {
        let Some(c) = &self.checkpoint else {
            return;
        };
        self.last_checkpoint = self.machine.step();
        if let Err(e) = checkpoint::write(&c.path, &c.owner, &self.machine.snapshot()) {
            tracing::error!("{e}");
        }
    }

    fn final_outputs(&mut self) -> Result<Option<Vec<f32>>> {
        let Machine::Server(s) = &mut self.machine else {
            return Ok(None);
        };
        let params = s.core().params().to_vec();
        let reported = s.final_model();
        if let (Some(j), Some(m)) = (&self.journal, reported) {
            j.final_model(&m)?;
        }
        Ok(Some(params))
    }
}

/// What a finished node still takes: requests for what it already sent, and reconnections (its
/// timers and any new vectors are dropped: it trains no more).
fn lingering_takes(e: &Event) -> bool {
    matches!(
        e,
        Event::Received {
            msg: Message::Pull { .. } | Message::CatchUp { .. },
            ..
        } | Event::Connected { .. }
    )
}

impl NodeRun {
    /// Runs the node: serves `acceptor`, dials its peers through `connect`, trains to the last
    /// step, lingers, and ends; or ends early when `stop` is cancelled (a server writes its
    /// checkpoint either way).
    pub async fn run<C: Connect, A: Accept>(
        self,
        connect: C,
        acceptor: A,
        stop: CancellationToken,
    ) -> Result<Finished> {
        let NodeRun {
            local,
            machine,
            shape,
            byzantine,
            source,
            steps,
            eval_every,
            timers,
            peers,
            linger,
            give_up,
            executor,
            checkpoint,
            mut journal,
            resumed,
        } = self;
        let me = local.me;
        // Two inputs per peer, and room for timers and gradients: what one peer can hold here is
        // bounded, and the readers wait (TCP pushes back) while the node is busy.
        let (tx, mut rx) = mpsc::channel::<Input>(2 * peers.len() + 16);
        tokio::spawn(serve(acceptor, local.clone(), tx.clone()));
        let outboxes: BTreeMap<Node, Outbox> = peers
            .into_iter()
            .map(|(peer, addr)| {
                let o = spawn_dialler(
                    connect.clone(),
                    local.clone(),
                    peer,
                    addr,
                    tx.clone(),
                    resumed,
                );
                (peer, o)
            })
            .collect();
        if let Some(j) = &mut journal {
            j.write(&Entry::Started {
                node: id::name(me),
                byzantine,
                step: machine.step(),
                unix: unix_now(),
            })?;
        }
        let last_checkpoint = machine.step();
        let mut d = Driver {
            me,
            machine,
            shape,
            byzantine,
            source: source.map(|s| Arc::new(Mutex::new(s))),
            steps,
            eval_every,
            timers,
            executor,
            outboxes,
            inputs: tx.clone(),
            handle: tokio::runtime::Handle::current(),
            checkpoint,
            last_checkpoint,
            journal,
            counts: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_step: None,
            finished: false,
            finished_at: None,
            progress: Instant::now(),
            gave_up: None,
        };
        let result = match executor {
            Executor::Inline => {
                d.start()?;
                loop {
                    let Some(input) = recv(&mut rx, d.wait(linger, give_up), &stop).await else {
                        break;
                    };
                    d.on_input(input)?;
                }
                d.note_giving_up(give_up, &stop);
                drain(d.outboxes.values().cloned().collect(), linger).await;
                d.end()
            }
            // The state machine on a thread of the blocking pool: its aggregations never hold
            // up the sockets' tasks.
            Executor::Thread => {
                let handle = d.handle.clone();
                tokio::task::spawn_blocking(move || {
                    d.start()?;
                    loop {
                        let wait = d.wait(linger, give_up);
                        let Some(input) = handle.block_on(recv(&mut rx, wait, &stop)) else {
                            break;
                        };
                        d.on_input(input)?;
                    }
                    d.note_giving_up(give_up, &stop);
                    handle.block_on(drain(d.outboxes.values().cloned().collect(), linger));
                    d.end()
                })
                .await
                .map_err(|e| NetError::Config(format!("the node's thread: {e}")))?
            }
        };
        drop(tx);
        result
    }
}

impl Driver {
    fn start(&mut self) -> Result<()> {
        self.handle(Event::Start)
    }

    /// How long it still lingers (`None`: it has not finished, or lingers until stopped: a
    /// `linger` beyond `Instant`'s range, such as `Duration::MAX`).
    fn linger_left(&mut self, linger: Duration) -> Option<Duration> {
        if !self.finished {
            return None;
        }
        let since = *self.finished_at.get_or_insert_with(Instant::now);
        let until = since.checked_add(linger)?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    /// How long to wait for the next input: until the linger is over (a finished node), or
    /// until it gives up (one that made no progress for `give_up`; `None` past `Instant`'s range:
    /// never).
    fn wait(&mut self, linger: Duration, give_up: Option<Duration>) -> Option<Duration> {
        if self.finished {
            return self.linger_left(linger);
        }
        let until = self.progress.checked_add(give_up?)?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    /// After the loop: if it ended unfinished and unstopped, its patience ran out; notes how
    /// long it waited and which peers it could not dial.
    fn note_giving_up(&mut self, give_up: Option<Duration>, stop: &CancellationToken) {
        if give_up.is_none() || self.finished || stop.is_cancelled() {
            return;
        }
        let unreachable: Vec<Node> = self
            .outboxes
            .iter()
            .filter(|(_, o)| !o.is_up())
            .map(|(&n, _)| n)
            .collect();
        self.gave_up = Some(GaveUp {
            waited: self.progress.elapsed(),
            unreachable,
            peers: self.outboxes.len(),
        });
    }

    fn end(mut self) -> Result<Finished> {
        let gave_up = self.gave_up.take();
        self.flush_counts();
        self.write_checkpoint();
        let params = self.final_outputs()?;
        Ok(Finished {
            step: self.machine.step(),
            completed: self.finished,
            counts: self.counts,
            params,
            gave_up,
        })
    }
}

/// Lets the queues drain, for at most `linger` (5 s at most): those to peers it is connected
/// to, or was until moments ago (a dialler in its backoff); a queue to a peer that has been
/// unreachable for longer is not waited for.
async fn drain(outboxes: Vec<Outbox>, linger: Duration) {
    let limit = linger.min(Duration::from_secs(5));
    let until = Instant::now() + limit;
    while outboxes
        .iter()
        .any(|o| o.up_within(limit) && o.pending() > 0)
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next input, or `None` when stopped or `wait` (the linger, or the wait before giving up)
/// is over.
async fn recv(
    rx: &mut mpsc::Receiver<Input>,
    wait: Option<Duration>,
    stop: &CancellationToken,
) -> Option<Input> {
    let linger = async {
        match wait {
            Some(w) => tokio::time::sleep(w).await,
            None => std::future::pending().await,
        }
    };
    if wait == Some(Duration::ZERO) {
        return None;
    }
    // The linger before the inputs: a peer that keeps the channel busy cannot keep a finished
    // node alive (nor a stuck one: messages that move it no step do not reset its patience).
    tokio::select! {
        biased;
        _ = stop.cancelled() => None,
        _ = linger => None,
        i = rx.recv() => i,
    }
}
