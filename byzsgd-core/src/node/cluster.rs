//! A checked cluster ([`Cluster`], from [`ClusterSpec::resolve`]) and the nodes it builds: what a
//! server or worker node is, whatever runtime drives it (the simulator, or tokio and sockets).
//!
//! - A server node ([`ServerNode`]): a [`ServerCore`] with the cluster's rule (behind its
//!   pre-aggregation), its contraction and SGD on its schedule ([`HostSgd`]); the last `f_ps`
//!   replicas are wrapped in the server attack ([`ByzantineServer`]).
//! - A worker node ([`WorkerNode`]): a [`WorkerCore`] with the cluster's momentum and filters; the
//!   first `f_w` workers are wrapped in the worker attack ([`ByzantineWorker`]).
//!
//! Rules and attacks come from the registry's names in the spec, or from factories of your own
//! ([`Cluster::with_rule`], [`Cluster::with_worker_attack`]).

use std::sync::Arc;

use super::schedule::LrSchedule;
use super::sgd::HostSgd;
use super::spec::ClusterSpec;
use crate::attacks::{ServerAttack, WorkerAttack, parse_server_attack, parse_worker_attack};
use crate::protocol::{
    Action, ByzantineServer, ByzantineWorker, ClusterConfig, Event, FilterConfig, Mode, Node,
    ServerCore, ServerSnapshot, WorkerCore, WorkerSnapshot,
};
use crate::{Aggregator, Contraction, Exec, Result, registry};

/// Builds a gradient rule for `(n, f)`: `n` gradients a server aggregates, `f` of them Byzantine.
pub type RuleFactory = Arc<dyn Fn(usize, usize) -> Result<Box<dyn Aggregator>> + Send + Sync>;
/// Builds a Byzantine worker's attack.
pub type WorkerAttackFactory = Arc<dyn Fn() -> Result<Box<dyn WorkerAttack>> + Send + Sync>;

/// A checked configuration: builds every node of the cluster.
#[derive(Clone)]
pub struct Cluster {
    spec: ClusterSpec,
    shape: ClusterConfig,
    lr: LrSchedule,
    rule: Option<RuleFactory>,
    worker_attack: Option<WorkerAttackFactory>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("spec", &self.spec)
            .field("shape", &self.shape)
            .field("custom_rule", &self.rule.is_some())
            .field("custom_worker_attack", &self.worker_attack.is_some())
            .finish()
    }
}

/// Mixes a salt into a seed: one independent stream per use of the run's seed.
pub fn mix(seed: u64, salt: u64) -> u64 {
    seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Cluster {
    pub(super) fn new(spec: ClusterSpec, shape: ClusterConfig, lr: LrSchedule) -> Self {
        Self {
            spec,
            shape,
            lr,
            rule: None,
            worker_attack: None,
        }
    }

    /// The configuration it was resolved from (with `gar` and `attack` naming any rule or attack
    /// of your own).
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// Sizes, Byzantine counts, mode and the gather period in force.
    pub fn shape(&self) -> ClusterConfig {
        self.shape
    }

    /// The learning-rate schedule.
    pub fn lr(&self) -> LrSchedule {
        self.lr
    }

    /// Aggregates gradients with a rule of your own rather than `spec.gar`: `factory(n, f)` is
    /// called once per replica (and for adaptive attacks) with the `q_w` gradients a replica will
    /// get and `f_w`. Checked now, by building one and checking its own bound.
    pub fn with_rule(mut self, factory: RuleFactory) -> Result<Self> {
        // The rule's own name: the pre-aggregation in front of it is `spec.pre`'s business.
        let name = factory(self.shape.q_w(), self.shape.f_w)?.name();
        self.rule = Some(factory);
        self.rule()?;
        self.spec.gar = name;
        Ok(self)
    }

    /// Byzantine workers run an attack of your own rather than `spec.attack`.
    pub fn with_worker_attack(mut self, factory: WorkerAttackFactory) -> Result<Self> {
        let attack = factory()?;
        self.spec.attack = attack.name();
        self.worker_attack = Some(factory);
        Ok(self)
    }

    /// A replica's gradient rule, checked against the `q_w` gradients it will get (behind the
    /// pre-aggregation, if any; plain averaging in vanilla mode).
    pub fn rule(&self) -> Result<Box<dyn Aggregator>> {
        let (n, f) = (self.shape.q_w(), self.shape.f_w);
        let pre = self.spec.pre.as_deref();
        if self.shape.mode == Mode::Vanilla {
            return registry::build_with_pre("average", pre, n, f, Exec::Auto);
        }
        let Some(factory) = &self.rule else {
            return registry::build_with_pre(&self.spec.gar, pre, n, f, Exec::Auto);
        };
        let rule = factory(n, f)?;
        rule.bound().check(&rule.name(), n, rule.f())?;
        registry::pre_aggregate(pre, n, f, Exec::Auto, rule)
    }

    /// The gathers' contraction, for the `q_ps` models of a gather.
    pub fn contraction(&self) -> Result<Box<dyn Contraction>> {
        registry::build_contraction(
            &self.spec.contraction,
            self.shape.q_ps(),
            self.shape.f_ps,
            Exec::Auto,
        )
    }

    /// The Byzantine workers' attack.
    pub fn worker_attack(&self) -> Result<Box<dyn WorkerAttack>> {
        match &self.worker_attack {
            Some(factory) => factory(),
            None => parse_worker_attack(&self.spec.attack),
        }
    }

    /// The Byzantine servers' attack.
    pub fn server_attack(&self) -> Result<Box<dyn ServerAttack>> {
        parse_server_attack(&self.spec.server_attack, self.shape.gather_period)
    }

    /// Whether `node` is Byzantine: the first `f_w` workers and the last `f_ps` servers.
    pub fn is_byzantine(&self, node: Node) -> bool {
        self.shape.is_byzantine(node)
    }

    /// Whether worker `w` trains on flipped labels (a Byzantine worker under a data attack).
    pub fn flips_labels(&self, w: usize) -> Result<bool> {
        Ok(self.is_byzantine(Node::Worker(w)) && self.worker_attack()?.flips_labels())
    }

    /// Every node: servers `0..n_ps`, then workers `0..n_w`.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + use<> {
        let c = self.shape;
        (0..c.n_ps)
            .map(Node::Server)
            .chain((0..c.n_w).map(Node::Worker))
    }

    /// Replica `id`, starting from `init` (the same for every replica): correct, or wrapped in
    /// the server attack for the last `f_ps`.
    pub fn server(&self, id: usize, init: Vec<f32>) -> Result<ServerNode> {
        self.wrap_server(id, self.server_core(id, init)?)
    }

    /// Replica `id` after a restart: from `snapshot`, or from `init` with its state lost; either
    /// way it catches up with its peers when it starts.
    pub fn restarted_server(
        &self,
        id: usize,
        init: Vec<f32>,
        snapshot: Option<ServerSnapshot>,
    ) -> Result<ServerNode> {
        let core = self.server_core(id, init)?;
        let core = match snapshot {
            Some(s) => core.restore(s)?,
            None => core.rejoining(),
        };
        self.wrap_server(id, core)
    }

    fn server_core(&self, id: usize, init: Vec<f32>) -> Result<ServerCore> {
        let update = Box::new(HostSgd {
            lr: self.lr,
            weight_decay: self.spec.weight_decay,
        });
        Ok(ServerCore::new(id, self.shape, init, self.rule()?, update)?
            .with_contraction(self.contraction()?))
    }

    fn wrap_server(&self, id: usize, core: ServerCore) -> Result<ServerNode> {
        Ok(if self.is_byzantine(Node::Server(id)) {
            let seed = mix(self.spec.seed, 100 + id as u64);
            ServerNode::Byzantine(ByzantineServer::new(core, self.server_attack()?, seed))
        } else {
            ServerNode::Honest(core)
        })
    }

    /// Worker `id` following the protocol, with the cluster's momentum and filters, for models
    /// of `dim` parameters.
    pub fn correct_worker(&self, id: usize, dim: usize) -> Result<WorkerCore> {
        let filters = FilterConfig::new(self.lr).with_slack(self.spec.lipschitz_slack);
        Ok(WorkerCore::new(id, self.shape, dim, filters)?.with_momentum(self.spec.momentum))
    }

    /// Worker `id` following the protocol after a restart, from `snapshot` or from scratch; it
    /// asks the servers for their models when it starts.
    pub fn restarted_worker(
        &self,
        id: usize,
        dim: usize,
        snapshot: Option<WorkerSnapshot>,
    ) -> Result<WorkerCore> {
        let worker = self.correct_worker(id, dim)?;
        match snapshot {
            Some(s) => worker.restore(s),
            None => Ok(worker.rejoining()),
        }
    }

    /// Worker `id`: correct, or wrapped in the worker attack for the first `f_w`. Such a
    /// Byzantine worker sees only its own gradient, as over a real network (the simulator's
    /// omniscient adversary drives correct workers instead).
    pub fn worker(&self, id: usize, dim: usize) -> Result<WorkerNode> {
        self.wrap_worker(id, self.correct_worker(id, dim)?)
    }

    /// Worker `id` as [`worker`](Self::worker) builds it, after a restart: restored from
    /// `snapshot` (its step, momentum and filters' history), or with its state lost, following
    /// the servers (as [`restarted_worker`](Self::restarted_worker)).
    pub fn resumed_worker(
        &self,
        id: usize,
        dim: usize,
        snapshot: Option<WorkerSnapshot>,
    ) -> Result<WorkerNode> {
        self.wrap_worker(id, self.restarted_worker(id, dim, snapshot)?)
    }

    fn wrap_worker(&self, id: usize, core: WorkerCore) -> Result<WorkerNode> {
        Ok(if self.is_byzantine(Node::Worker(id)) {
            let seed = mix(self.spec.seed, 200 + id as u64);
            let attack = self.worker_attack()?;
            let byzantine = self.shape.f_w;
            WorkerNode::Byzantine(ByzantineWorker::new(
                core,
                attack,
                Some(self.rule()?),
                byzantine,
                seed,
            ))
        } else {
            WorkerNode::Honest(core)
        })
    }
}

/// A server node: a correct replica or a Byzantine one.
// One per replica, held for the whole run: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ServerNode {
    /// Follows the protocol.
    Honest(ServerCore),
    /// A correct replica whose outgoing models pass through a server attack.
    Byzantine(ByzantineServer),
}

impl ServerNode {
    /// Handles one event; returns what to do.
    pub fn handle(&mut self, e: Event) -> Result<Vec<Action>> {
        match self {
            ServerNode::Honest(s) => s.handle(e),
            ServerNode::Byzantine(s) => s.handle(e),
        }
    }

    /// The correct machine (underneath the attack, for a Byzantine replica).
    pub fn core(&self) -> &ServerCore {
        match self {
            ServerNode::Honest(s) => s,
            ServerNode::Byzantine(s) => s.core(),
        }
    }

    /// The step it is at.
    pub fn step(&self) -> u64 {
        self.core().step()
    }

    /// The state of the correct machine (underneath the attack), to restore after a restart.
    pub fn snapshot(&self) -> ServerSnapshot {
        self.core().snapshot()
    }

    /// The model a reader of this replica gets at the end of a run: its parameters, or what its
    /// attack makes of them (`None`: it says nothing).
    pub fn final_model(&mut self) -> Option<Vec<f32>> {
        match self {
            ServerNode::Honest(s) => Some(s.params().to_vec()),
            ServerNode::Byzantine(s) => s.model_for(Node::Worker(0)),
        }
    }
}

/// A worker node: a correct worker or a Byzantine one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum WorkerNode {
    /// Follows the protocol.
    Honest(WorkerCore),
    /// A correct worker whose outgoing gradients pass through a worker attack.
    Byzantine(ByzantineWorker),
}

impl WorkerNode {
    /// Handles one event; returns what to do.
    pub fn handle(&mut self, e: Event) -> Result<Vec<Action>> {
        match self {
            WorkerNode::Honest(w) => w.handle(e),
            WorkerNode::Byzantine(w) => w.handle(e),
        }
    }

    /// The step it is at.
    pub fn step(&self) -> u64 {
        match self {
            WorkerNode::Honest(w) => w.step(),
            WorkerNode::Byzantine(w) => w.core().step(),
        }
    }

    /// Its state, to restore after a restart (a Byzantine worker's is its correct core's).
    pub fn snapshot(&self) -> WorkerSnapshot {
        match self {
            WorkerNode::Honest(w) => w.snapshot(),
            WorkerNode::Byzantine(w) => w.core().snapshot(),
        }
    }
}
