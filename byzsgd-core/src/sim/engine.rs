//! The discrete-event loop: nodes from the [`Cluster`], events from the [`Queue`], messages
//! through the [`NetworkConfig`], gradients from the [`Pool`], the Byzantine workers' vectors
//! through the [`Adversary`], records into the [`Collector`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::adversary::Adversary;
use super::network::{Crash, NetworkConfig, RestartFrom};
use super::pool::{Pool, Reply};
use super::queue::{Item, Queue};
use crate::node::{Cluster, Collector, GradientSource, ServerNode, StepRow, mix, model_hash};
use crate::protocol::{
    Action, ClusterConfig, Event, Message, Node, ServerSnapshot, Timer, Vector, WorkerCore,
    WorkerSnapshot,
};
use crate::rows::all_finite;
use crate::{Aggregator, Error, MedianConfig, Result, Rows};

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per step.
    pub rows: Vec<StepRow>,
    /// The first honest server's final parameters.
    pub final_params: Vec<f32>,
    /// [`model_hash`] of `final_params`.
    pub model_hash: u64,
    /// The product of the run: the coordinate-wise median of the final models of every replica
    /// (a Byzantine replica's as its attack reports it), safe whatever `f_ps` of them lie.
    pub final_model: Vec<f32>,
    /// Test accuracy of `final_params`, if there is a test set.
    pub final_test_accuracy: Option<f64>,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Simulated time, in gradient computations.
    pub simulated_time: f64,
    /// `(step, model_hash)` of the first honest server's model after each gather.
    pub gather_hashes: Vec<(u64, u64)>,
    /// The resolved cluster.
    pub cluster: ClusterConfig,
    /// Replies rejected and messages refused, over the run.
    pub rejected: usize,
    /// Synchronous server updates skipped for want of gradients.
    pub skipped: usize,
    /// The step at which the honest servers' models stopped being finite and the run ended
    /// (a rule that failed, e.g. averaging under attack), if they did.
    pub diverged: Option<u64>,
    /// Wall-clock seconds the event loop spent waiting for gradients; the rest of
    /// `wall_seconds` is the protocol's own work (medians, aggregations, updates, metrics),
    /// done on the loop's thread, on the critical path between gradients.
    pub waiting_seconds: f64,
    /// Every replica's parameters at the end (a Byzantine one's correct machine underneath).
    pub server_models: Vec<Vec<f32>>,
    /// What the honest nodes recorded, counted by kind: `rejected: <filter>`,
    /// `refused: <reason>`, `stalled`, `caught up`, `gather skipped`, `skipped`.
    pub counts: BTreeMap<String, usize>,
}

/// A simulated cluster, ready to run.
pub struct Simulation {
    cluster: Cluster,
    source: Box<dyn GradientSource>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// A run of `cluster` (checked by [`ClusterSpec::resolve`](crate::node::ClusterSpec::resolve))
    /// on `source`'s model and data.
    pub fn new(cluster: Cluster, source: Box<dyn GradientSource>) -> Self {
        Self { cluster, source }
    }

    /// The checked configuration.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs to the last step, calling `progress` with each completed row.
    pub fn run(self, progress: &mut dyn FnMut(&StepRow)) -> Result<Report> {
        Engine::new(self)?.run(progress)
    }
}

struct Engine {
    cluster: Cluster,
    shape: ClusterConfig,
    network: NetworkConfig,
    steps: u64,
    source: Box<dyn GradientSource>,
    servers: Vec<ServerNode>,
    workers: Vec<WorkerCore>,
    queue: Queue,
    net_rng: ChaCha8Rng,
    crashes: HashMap<Node, VecDeque<Crash>>,
    crashed: HashSet<Node>,
    /// Crashed nodes' states, kept for their restart from a snapshot.
    server_snapshots: HashMap<usize, ServerSnapshot>,
    worker_snapshots: HashMap<usize, WorkerSnapshot>,
    /// Crashed honest replicas whose restart is scheduled.
    restarts_pending: usize,
    /// Simulated time of the last completed row, and how long without one means stalled.
    last_progress: f64,
    stall_limit: f64,
    pool: Pool,
    jobs: HashMap<u64, Reply>,
    adversary: Adversary,
    metrics: Collector,
    started: Instant,
    nonfinite_gradient: bool,
    waiting: f64,
}

impl Engine {
    fn new(sim: Simulation) -> Result<Self> {
        let Simulation { cluster, source } = sim;
        let c = cluster.shape();
        let spec = cluster.spec().clone();
        let dim = source.dim();
        let init = source.initial_params();
        if init.len() != dim {
            return Err(Error::Input(format!(
                "the gradient source has {dim} parameters but its initial model {}",
                init.len()
            )));
        }
        let servers = (0..c.n_ps)
            .map(|i| cluster.server(i, init.clone()))
            .collect::<Result<Vec<_>>>()?;
        // The simulator's Byzantine workers are correct machines whose vectors the omniscient
        // adversary replaces.
        let workers = (0..c.n_w)
            .map(|i| cluster.correct_worker(i, dim))
            .collect::<Result<Vec<_>>>()?;
        let crashes = cluster
            .nodes()
            .map(|n| (n, spec.network.crashes_of(n).into()))
            .collect();
        let t = spec.timers;
        let net = &spec.network;
        let step_time = net.compute + net.compute_jitter + net.latency + net.jitter + net.rto;
        let stall_limit = 500.0 * step_time.max(1.0)
            + net.longest_disruption()
            + 10.0 * t.step_deadline.max(t.pull_timeout).max(t.stall);
        let threads = match spec.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(c.n_w);
        Ok(Self {
            adversary: Adversary::new(&cluster)?,
            metrics: Collector::new(c, spec.steps),
            pool: Pool::new(source.as_ref(), threads),
            shape: c,
            network: spec.network.clone(),
            steps: spec.steps,
            servers,
            workers,
            queue: Queue::default(),
            net_rng: ChaCha8Rng::seed_from_u64(mix(spec.seed, 1)),
            crashes,
            crashed: HashSet::new(),
            server_snapshots: HashMap::new(),
            worker_snapshots: HashMap::new(),
            restarts_pending: 0,
            last_progress: 0.0,
            stall_limit,
            jobs: HashMap::new(),
            started: Instant::now(),
            nonfinite_gradient: false,
            waiting: 0.0,
            source,
            cluster,
        })
    }

    fn is_honest_server(&self, s: usize) -> bool {
        !self.shape.is_byzantine(Node::Server(s))
    }

    fn down(&self, n: Node) -> bool {
        self.crashed.contains(&n)
    }

    fn node_step(&self, n: Node) -> u64 {
        match n {
            Node::Server(i) => self.servers[i].step(),
            Node::Worker(i) => self.workers[i].step(),
        }
    }

    /// Crashes `n` if it reached its next crash step, and schedules its restart if it has one
    /// (keeping its snapshot when it restarts from it).
    fn check_crash(&mut self, n: Node) {
        if self.down(n) {
            return;
        }
        let step = self.node_step(n);
        let Some(queue) = self.crashes.get_mut(&n) else {
            return;
        };
        if queue.front().is_none_or(|c| step < c.step) {
            return;
        }
        let crash = queue.pop_front().expect("checked");
        self.crashed.insert(n);
        if let Some(after) = crash.restart_after {
            if crash.restart_from == RestartFrom::Snapshot {
                match n {
                    Node::Server(i) => {
                        self.server_snapshots.insert(i, self.servers[i].snapshot());
                    }
                    Node::Worker(i) => {
                        self.worker_snapshots.insert(i, self.workers[i].snapshot());
                    }
                }
            }
            let at = self.queue.now() + after;
            let from = crash.restart_from;
            if matches!(n, Node::Server(s) if self.is_honest_server(s)) {
                self.restarts_pending += 1;
            }
            self.queue.schedule(at, Item::Restart { node: n, from });
        }
    }

    /// Brings `node` back from its snapshot (or from scratch); every live peer reconnects to it.
    fn restart(&mut self, node: Node, from: RestartFrom) -> Result<()> {
        let kept = from == RestartFrom::Snapshot;
        match node {
            Node::Server(i) => {
                let s = self.server_snapshots.remove(&i).filter(|_| kept);
                let init = self.source.initial_params();
                self.servers[i] = self.cluster.restarted_server(i, init, s)?;
            }
            Node::Worker(i) => {
                let s = self.worker_snapshots.remove(&i).filter(|_| kept);
                let dim = self.source.dim();
                self.workers[i] = self.cluster.restarted_worker(i, dim, s)?;
            }
        }
        self.crashed.remove(&node);
        if matches!(node, Node::Server(s) if self.is_honest_server(s)) {
            self.restarts_pending -= 1;
        }
        self.deliver(node, Event::Start)?;
        let peers: Vec<Node> = self
            .cluster
            .nodes()
            .filter(|&p| p != node && !self.down(p))
            .collect();
        for p in peers {
            self.deliver(p, Event::Connected { peer: node })?;
        }
        Ok(())
    }

    fn run(mut self, progress: &mut dyn FnMut(&StepRow)) -> Result<Report> {
        for n in self.cluster.nodes() {
            self.check_crash(n);
            if !self.down(n) {
                self.deliver(n, Event::Start)?;
            }
        }
        while (self.metrics.rows().len() as u64) < self.steps {
            // Nothing left to happen, or only timers firing without progress.
            let stuck = match self.queue.pop() {
                Some(item) => {
                    self.step(item)?;
                    self.complete_rows(progress)?;
                    self.queue.now() - self.last_progress > self.stall_limit
                }
                None => true,
            };
            if stuck {
                if let Some(p) = self.diverged() {
                    // Non-finite models make non-finite gradients, which servers refuse: the
                    // run cannot go on, and that is its result, not an error.
                    self.metrics.set_last_model(p);
                    break;
                }
                return Err(self.stalled());
            }
        }
        self.report()
    }

    fn step(&mut self, item: Item) -> Result<()> {
        match item {
            Item::Deliver { from, to, msg } => {
                if !self.down(to) {
                    self.deliver(to, Event::Received { from, msg })?;
                }
            }
            Item::Timer { node, timer } => {
                if !self.down(node) {
                    self.deliver(node, Event::Timer(timer))?;
                }
            }
            Item::Restart { node, from } => self.restart(node, from)?,
            Item::Reconnect { a, b } => {
                for (me, peer) in [(a, b), (b, a)] {
                    if !self.down(me) {
                        self.deliver(me, Event::Connected { peer })?;
                    }
                }
            }
            Item::Gradient { worker, step, job } => {
                let reply = self.jobs.remove(&job).expect("a job per gradient event");
                let t = Instant::now();
                let (grad, loss) = Pool::wait(reply)?;
                self.waiting += t.elapsed().as_secs_f64();
                let node = Node::Worker(worker);
                if !self.adversary.is_byzantine(worker) && !all_finite(&grad) {
                    self.nonfinite_gradient = true;
                }
                if !self.down(node) {
                    let grad = Arc::new(grad);
                    self.deliver(node, Event::GradientComputed { step, grad, loss })?;
                }
            }
        }
        Ok(())
    }

    fn stalled(&self) -> Error {
        let steps: Vec<u64> = (0..self.shape.n_ps)
            .filter(|&s| self.is_honest_server(s))
            .map(|s| self.servers[s].step())
            .collect();
        Error::Stalled(format!(
            "no progress by simulated time {:.1}: honest servers at steps {steps:?}, {} rows of \
             {} complete (too many crashes, partitions that never heal, or a quorum that cannot \
             form)",
            self.queue.now(),
            self.metrics.rows().len(),
            self.steps
        ))
    }

    fn report(mut self) -> Result<Report> {
        let completed = self.metrics.rows().len() as u64;
        let diverged = completed < self.steps;
        let last = self.metrics.rows().last().map(|r| r.step).unwrap_or(0);
        let final_params = self
            .metrics
            .last_model()
            .map(|p| p.to_vec())
            .ok_or_else(|| Error::Stalled(format!("no honest model at step {last}")))?;
        let final_test_accuracy = match self.metrics.rows().last().and_then(|r| r.test_accuracy) {
            Some(a) => Some(a),
            None => self.source.evaluate(&final_params)?,
        };
        let final_model = self.final_model()?;
        let (rejected, skipped) = (self.metrics.rejected(), self.metrics.skipped());
        let counts = self.metrics.counts();
        let server_models = self
            .servers
            .iter()
            .map(|s| s.core().params().to_vec())
            .collect();
        let (rows, gather_hashes) = self.metrics.finish();
        Ok(Report {
            model_hash: model_hash(&final_params),
            final_params,
            final_model,
            final_test_accuracy,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            simulated_time: self.queue.now(),
            cluster: self.shape,
            rejected,
            skipped,
            diverged: diverged.then_some(completed),
            waiting_seconds: self.waiting,
            server_models,
            counts,
            rows,
            gather_hashes,
        })
    }

    /// The coordinate-wise median of what every replica reports as its final model (one of the
    /// wrong length counts as not reported).
    fn final_model(&mut self) -> Result<Vec<f32>> {
        let dim = self.source.dim();
        let mut models: Vec<Vec<f32>> = self
            .servers
            .iter_mut()
            .filter_map(|s| s.final_model())
            .filter(|m| m.len() == dim)
            .collect();
        match models.len() {
            0 => Err(Error::Stalled("no replica reports a final model".into())),
            // One trusted server (vanilla): its model as it is.
            1 => Ok(models.pop().expect("one")),
            n => {
                let median = MedianConfig::new(n, 0).init()?;
                Ok(median
                    .aggregate_rows(Rows::new(&models.concat(), n, dim)?)?
                    .0)
            }
        }
    }

    /// The first honest server's model, if some honest model, or an honest gradient, is no
    /// longer finite.
    fn diverged(&self) -> Option<Vector> {
        let honest: Vec<&ServerNode> = self
            .servers
            .iter()
            .filter(|s| matches!(s, ServerNode::Honest(_)))
            .collect();
        let broken =
            self.nonfinite_gradient || honest.iter().any(|s| !all_finite(s.core().params()));
        broken.then(|| Arc::new(honest[0].core().params().to_vec()))
    }

    /// Emits the rows of every step that every live honest server has finished, in order.
    fn complete_rows(&mut self, progress: &mut dyn FnMut(&StepRow)) -> Result<()> {
        loop {
            let step = self.metrics.rows().len() as u64;
            if step >= self.steps {
                return Ok(());
            }
            let live: Vec<usize> = (0..self.shape.n_ps)
                .filter(|&s| self.is_honest_server(s))
                // A crashed server counts for the steps it finished.
                .filter(|&s| !self.down(Node::Server(s)) || self.servers[s].step() > step)
                .collect();
            if live.is_empty() {
                if self.restarts_pending > 0 {
                    // Every honest replica is down, but one comes back: wait for it.
                    return Ok(());
                }
                return Err(Error::Stalled(format!(
                    "every honest server crashed before step {step}"
                )));
            }
            let Some(mut done) = self.metrics.next_complete(&live) else {
                return Ok(());
            };
            if self
                .metrics
                .evaluates_at(step, self.cluster.spec().eval_every)
            {
                done.row.test_accuracy = self.source.evaluate(&done.model)?;
            }
            done.row.wall_seconds = self.started.elapsed().as_secs_f64();
            self.last_progress = self.queue.now();
            progress(&done.row);
            self.metrics.push(done);
        }
    }

    fn deliver(&mut self, node: Node, event: Event) -> Result<()> {
        let actions = match node {
            Node::Server(i) => self.servers[i].handle(event)?,
            Node::Worker(i) => self.workers[i].handle(event)?,
        };
        self.route(node, actions)?;
        self.check_crash(node);
        Ok(())
    }

    fn route(&mut self, from: Node, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::Send { to, msg } => self.send(from, to, msg)?,
                Action::SetTimer(timer) => {
                    let timers = self.cluster.spec().timers;
                    let after = match timer {
                        Timer::StepDeadline { .. } | Timer::GatherDeadline { .. } => {
                            timers.step_deadline
                        }
                        Timer::PullTimeout { .. } => timers.pull_timeout,
                        Timer::QuorumTimeout { attempt, .. } => {
                            timers.pull_timeout * f64::from(1u32 << attempt.min(10))
                        }
                        Timer::Stall { .. } => timers.stall,
                    };
                    let at = self.queue.now() + after;
                    self.queue.schedule(at, Item::Timer { node: from, timer });
                }
                Action::ComputeGradient { step, params } => {
                    let Node::Worker(w) = from else { continue };
                    let job = self.queue.ticket();
                    let done = self.queue.now() + self.network.compute_time(&mut self.net_rng);
                    self.jobs
                        .insert(job, self.pool.submit(w, step, params, done));
                    let item = Item::Gradient {
                        worker: w,
                        step,
                        job,
                    };
                    self.queue.schedule(done, item);
                }
                Action::Record(r) => self.metrics.record(from, r),
            }
        }
        Ok(())
    }

    /// Schedules `msg`'s delivery through the network model, or loses it for good with its
    /// connection, which both ends re-establish after `rto`.
    fn transmit(&mut self, from: Node, to: Node, msg: Message) {
        if self.network.lost(&mut self.net_rng) {
            let at = self.queue.now() + self.network.rto;
            self.queue.schedule(at, Item::Reconnect { a: from, b: to });
            return;
        }
        let now = self.queue.now();
        let at = self.network.arrival(from, to, now, &mut self.net_rng);
        self.queue.schedule(at, Item::Deliver { from, to, msg });
    }

    /// Workers' gradients go through the adversary (which holds the Byzantine ones and may
    /// release them once an honest one arrives); everything else straight to the network.
    fn send(&mut self, from: Node, to: Node, msg: Message) -> Result<()> {
        let (Node::Worker(w), Message::Gradient { step, grad }) = (from, &msg) else {
            self.transmit(from, to, msg);
            return Ok(());
        };
        let step = *step;
        match self.adversary.intercept(w, step, grad, to) {
            None => self.adversary.craft(step, &self.crashed, &mut self.queue),
            Some(msg) => {
                self.transmit(from, to, msg);
                // Honest vectors may complete what the adversary waits for.
                let previous = step.saturating_sub(1);
                self.adversary
                    .craft(previous, &self.crashed, &mut self.queue)?;
                self.adversary.craft(step, &self.crashed, &mut self.queue)
            }
        }
    }
}
