//! The discrete-event simulator: every node of a cluster in one process, driven through the
//! same sans-IO state machines as the TCP runtime, on a simulated clock.
//!
//! Events (message deliveries, finished gradients, timers) are ordered by simulated time, ties by
//! the order they were scheduled, and every random draw comes from a seeded generator: a seed
//! fixes the run, whatever the number of gradient threads (gradients are computed in parallel on
//! a thread pool as soon as they are asked for, and collected in event order). Across machines,
//! Burn's floating-point kernels may differ, and so may the hash.
//!
//! Byzantine nodes: the last `f_ps` servers run a correct replica whose outgoing models pass
//! through the server attack ([`ByzantineServer`]); the first `f_w` workers run a correct worker
//! (so they hold models and compute their own gradient, on flipped labels under `labelflip`)
//! whose outgoing gradients are replaced by the worker attack's vector. They collude as one
//! omniscient and fast adversary: at step `t` they wait until the honest workers have sent
//! enough step-`t` vectors (asynchronous mode: `q_w − f_w`, so that with theirs they fill every
//! server's quorum; otherwise every live honest worker's; or until one has moved past `t`), craft
//! from those vectors, and their messages arrive with the smallest latency. (Waiting for every
//! honest vector in asynchronous mode would let the honest ones fill the quorums first: measured,
//! reverse, Gaussian and label-flip runs then ended with the same model hash, their vectors never
//! used.) With `attack_own_data`, they craft from their own gradients
//! instead, as they must over a real network.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;

use byzsgd_core::Aggregator;
use byzsgd_core::attacks::WorkerAttack;
use byzsgd_core::protocol::{
    Action, ByzantineServer, ClusterConfig, Event, Message, Node, ServerCore, Timer, Update,
    Vector, WorkerCore,
};
use byzsgd_core::rows::all_finite;

use super::config::{Resolved, SimConfig};
use super::metrics::{StepAcc, StepRow, model_hash};
use super::oracle::{Oracle, Pool, Reply};
use crate::{BurnError, Result};

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per step.
    pub rows: Vec<StepRow>,
    /// The first honest server's final parameters.
    pub final_params: Vec<f32>,
    /// [`model_hash`] of `final_params`.
    pub model_hash: u64,
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
}

// One per replica, held for the whole run: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Server {
    Honest(ServerCore),
    Byzantine(ByzantineServer),
}

impl Server {
    fn handle(&mut self, e: Event) -> byzsgd_core::Result<Vec<Action>> {
        match self {
            Server::Honest(s) => s.handle(e),
            Server::Byzantine(s) => s.handle(e),
        }
    }
    fn step(&self) -> u64 {
        match self {
            Server::Honest(s) => s.step(),
            Server::Byzantine(s) => s.core().step(),
        }
    }
}

enum Item {
    Deliver { from: Node, to: Node, msg: Message },
    Timer { node: Node, timer: Timer },
    Gradient { worker: usize, step: u64, job: u64 },
}

struct Scheduled {
    time: f64,
    seq: u64,
    item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // BinaryHeap is a max-heap: the earliest event is the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.time.total_cmp(&self.time).then(o.seq.cmp(&self.seq))
    }
}

/// A simulated cluster, ready to run.
pub struct Simulation {
    config: SimConfig,
    resolved: Resolved,
    oracle: Box<dyn Oracle>,
    update: Box<dyn Fn() -> Box<dyn Update>>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Checks `config` (bounds, rule, attacks, network) and prepares a run on `oracle`'s model
    /// and data; every server updates with a fresh `update()`.
    pub fn new(
        config: SimConfig,
        oracle: Box<dyn Oracle>,
        update: Box<dyn Fn() -> Box<dyn Update>>,
    ) -> Result<Self> {
        let resolved = config.resolve()?;
        Ok(Self {
            config,
            resolved,
            oracle,
            update,
        })
    }

    /// The checked configuration.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// Runs to the last step, calling `progress` with each completed row.
    pub fn run(self, progress: &mut dyn FnMut(&StepRow)) -> Result<Report> {
        Engine::new(self)?.run(progress)
    }
}

struct Engine {
    cfg: SimConfig,
    cluster: ClusterConfig,
    labelflip: bool,
    oracle: Box<dyn Oracle>,
    servers: Vec<Server>,
    workers: Vec<WorkerCore>,
    attacks: Vec<Option<Box<dyn WorkerAttack>>>,
    attack_rule: Box<dyn Aggregator>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    now: f64,
    net_rng: ChaCha8Rng,
    attack_rng: ChaCha8Rng,
    crash_at: HashMap<Node, u64>,
    crashed: HashSet<Node>,
    pool: Pool,
    jobs: HashMap<u64, Reply>,
    velocity: Vec<Option<Vec<f32>>>,
    outgoing: HashMap<(usize, u64), Vector>,
    honest_sent: BTreeMap<u64, Vec<Vector>>,
    byz_own: BTreeMap<u64, Vec<Vector>>,
    byz_hold: BTreeMap<u64, Vec<(usize, Vector, Vec<Node>)>>,
    acc: BTreeMap<u64, StepAcc>,
    rows: Vec<StepRow>,
    started: Instant,
    rejected: usize,
    skipped: usize,
    last_params: Option<Vector>,
    nonfinite_gradient: bool,
    waiting: f64,
    gather_hashes: Vec<(u64, u64)>,
}

mod adversary;
mod collect;
mod setup;

fn mix(seed: u64, salt: u64) -> u64 {
    seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Engine {
    fn schedule(&mut self, time: f64, item: Item) {
        self.seq += 1;
        self.queue.push(Scheduled {
            time,
            seq: self.seq,
            item,
        });
    }

    fn is_byz_worker(&self, w: usize) -> bool {
        w < self.cluster.f_w
    }

    fn is_honest_server(&self, s: usize) -> bool {
        s < self.cluster.n_ps - self.cluster.f_ps
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

    fn check_crash(&mut self, n: Node) {
        if let Some(&at) = self.crash_at.get(&n)
            && self.node_step(n) >= at
        {
            self.crashed.insert(n);
        }
    }

    fn run(mut self, progress: &mut dyn FnMut(&StepRow)) -> Result<Report> {
        let nodes: Vec<Node> = (0..self.cluster.n_ps)
            .map(Node::Server)
            .chain((0..self.cluster.n_w).map(Node::Worker))
            .collect();
        for &n in &nodes {
            self.check_crash(n);
            if !self.down(n) {
                self.deliver(n, Event::Start)?;
            }
        }
        while (self.rows.len() as u64) < self.cfg.steps {
            let Some(ev) = self.queue.pop() else {
                if let Some(p) = self.diverged() {
                    // Non-finite models make non-finite gradients, which servers refuse: the
                    // run cannot go on, and that is its result, not an error.
                    self.last_params = Some(p);
                    break;
                }
                let steps: Vec<u64> = (0..self.cluster.n_ps)
                    .filter(|&s| self.is_honest_server(s))
                    .map(|s| self.servers[s].step())
                    .collect();
                return Err(BurnError::Stalled(format!(
                    "nothing left to happen at simulated time {:.1}: honest servers at steps \
                     {steps:?}, {} rows of {} complete (too many crashes, partitions that never \
                     heal, or a quorum that cannot form)",
                    self.now,
                    self.rows.len(),
                    self.cfg.steps
                )));
            };
            self.now = ev.time;
            match ev.item {
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
                Item::Gradient { worker, step, job } => {
                    let reply = self.jobs.remove(&job).expect("a job per gradient event");
                    let t = Instant::now();
                    let (grad, loss) = Pool::wait(reply)?;
                    self.waiting += t.elapsed().as_secs_f64();
                    let node = Node::Worker(worker);
                    if !self.is_byz_worker(worker) && !all_finite(&grad) {
                        self.nonfinite_gradient = true;
                    }
                    if !self.down(node) {
                        let grad = Arc::new(grad);
                        self.deliver(node, Event::GradientComputed { step, grad, loss })?;
                    }
                }
            }
            self.complete_rows(progress)?;
        }
        let diverged = (self.rows.len() as u64) < self.cfg.steps;
        let last = self.rows.last().map(|r| r.step).unwrap_or(0);
        let final_params = self
            .last_params
            .take()
            .map(|p| p.to_vec())
            .ok_or_else(|| BurnError::Stalled(format!("no honest model at step {last}")))?;
        let final_test_accuracy = match self.rows.last().and_then(|r| r.test_accuracy) {
            Some(a) => Some(a),
            None => self.oracle.evaluate(&final_params)?,
        };
        Ok(Report {
            model_hash: model_hash(&final_params),
            final_params,
            final_test_accuracy,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            simulated_time: self.now,
            cluster: self.cluster,
            rejected: self.rejected,
            skipped: self.skipped,
            diverged: diverged.then_some(self.rows.len() as u64),
            waiting_seconds: self.waiting,
            rows: self.rows,
            gather_hashes: self.gather_hashes,
        })
    }

    /// The first honest server's model, if some honest model, or an honest gradient, is no
    /// longer finite.
    fn diverged(&self) -> Option<Vector> {
        let honest: Vec<&ServerCore> = self
            .servers
            .iter()
            .filter_map(|s| match s {
                Server::Honest(core) => Some(core),
                Server::Byzantine(_) => None,
            })
            .collect();
        let broken = self.nonfinite_gradient || honest.iter().any(|s| !all_finite(s.params()));
        broken.then(|| Arc::new(honest[0].params().to_vec()))
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
                    let after = match timer {
                        Timer::StepDeadline { .. } => self.cfg.network.step_deadline,
                        Timer::PullTimeout { .. } => self.cfg.network.pull_timeout,
                    };
                    self.schedule(self.now + after, Item::Timer { node: from, timer });
                }
                Action::ComputeGradient { step, params } => {
                    let Node::Worker(w) = from else { continue };
                    let flip = self.labelflip && self.is_byz_worker(w);
                    let job = self.seq;
                    self.jobs
                        .insert(job, self.pool.submit(w, step, params, flip));
                    let done = self.now + self.cfg.network.compute_time(&mut self.net_rng);
                    let item = Item::Gradient {
                        worker: w,
                        step,
                        job,
                    };
                    self.schedule(done, item);
                }
                Action::Record(r) => self.record(from, r),
            }
        }
        Ok(())
    }

    /// Schedules `msg`'s delivery through the network model.
    fn transmit(&mut self, from: Node, to: Node, msg: Message) {
        let at = self
            .cfg
            .network
            .arrival(from, to, self.now, &mut self.net_rng);
        self.schedule(at, Item::Deliver { from, to, msg });
    }

    fn send(&mut self, from: Node, to: Node, msg: Message) -> Result<()> {
        let (Node::Worker(w), Message::Gradient { step, grad }) = (from, &msg) else {
            self.transmit(from, to, msg);
            return Ok(());
        };
        let step = *step;
        // A worker's vector of the step, through its momentum once (all recipients share it).
        let v = match self.outgoing.get(&(w, step)) {
            Some(v) => v.clone(),
            None => {
                let v = self.momentum(w, grad);
                self.outgoing.insert((w, step), v.clone());
                if self.is_byz_worker(w) {
                    self.byz_own.entry(step).or_default().push(v.clone());
                    self.byz_hold
                        .entry(step)
                        .or_default()
                        .push((w, v.clone(), Vec::new()));
                } else {
                    self.honest_sent.entry(step).or_default().push(v.clone());
                }
                self.outgoing.retain(|&(_, s), _| s + 2 >= step);
                v
            }
        };
        if self.is_byz_worker(w) {
            if let Some(held) = self.byz_hold.get_mut(&step)
                && let Some(entry) = held.iter_mut().find(|(x, _, _)| *x == w)
            {
                entry.2.push(to);
            }
            return self.craft(step);
        }
        self.transmit(from, to, Message::Gradient { step, grad: v });
        // Honest vectors may complete what the adversary waits for.
        self.craft(step.saturating_sub(1))?;
        self.craft(step)
    }
}
