//! Building the cluster of a run: the replicas (the last `f_ps` wrapped in their attack), the
//! workers (the first `f_w` given theirs), crash steps, the gradient pool and the seeded
//! generators.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use byzsgd_core::attacks::{parse_server_attack, parse_worker_attack};
use byzsgd_core::protocol::{ByzantineServer, FilterConfig, Node, ServerCore, WorkerCore};
use byzsgd_core::{Exec, registry};

use super::super::oracle::Pool;
use super::{Engine, Server, Simulation, mix};
use crate::{BurnError, Result};

impl Engine {
    pub(super) fn new(sim: Simulation) -> Result<Self> {
        let Simulation {
            config: cfg,
            resolved,
            oracle,
            update,
        } = sim;
        let c = resolved.cluster;
        let dim = oracle.dim();
        let init = oracle.initial_params();
        if init.len() != dim {
            return Err(BurnError::Dimension {
                expected: dim,
                got: init.len(),
            });
        }
        let mut servers = Vec::with_capacity(c.n_ps);
        for i in 0..c.n_ps {
            let contraction = registry::build(&cfg.contraction, c.q_ps(), c.f_ps, Exec::Auto)?;
            let core = ServerCore::new(i, c, init.clone(), cfg.rule(&c)?, update())?
                .with_contraction(contraction)?;
            servers.push(if i >= c.n_ps - c.f_ps {
                let attack = parse_server_attack(&cfg.server_attack, c.gather_period)?;
                let seed = mix(cfg.seed, 100 + i as u64);
                Server::Byzantine(ByzantineServer::new(core, attack, seed))
            } else {
                Server::Honest(core)
            });
        }
        let filters = FilterConfig::new(resolved.lr.at(0));
        let workers = (0..c.n_w)
            .map(|i| WorkerCore::new(i, c, dim, filters))
            .collect::<byzsgd_core::Result<Vec<_>>>()?;
        let attacks = (0..c.n_w)
            .map(|i| {
                if i < c.f_w && !resolved.labelflip {
                    parse_worker_attack(&cfg.attack).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect::<byzsgd_core::Result<Vec<_>>>()?;
        let mut crash_at = HashMap::new();
        for node in (0..c.n_ps)
            .map(Node::Server)
            .chain((0..c.n_w).map(Node::Worker))
        {
            if let Some(s) = cfg.network.crash_step(node) {
                crash_at.insert(node, s);
            }
        }
        let threads = match cfg.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(c.n_w);
        let pool = Pool::new(oracle.as_ref(), threads);
        Ok(Self {
            cluster: c,
            labelflip: resolved.labelflip,
            attack_rule: cfg.rule(&c)?,
            servers,
            workers,
            attacks,
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0.0,
            net_rng: ChaCha8Rng::seed_from_u64(mix(cfg.seed, 1)),
            attack_rng: ChaCha8Rng::seed_from_u64(mix(cfg.seed, 2)),
            crash_at,
            crashed: HashSet::new(),
            pool,
            jobs: HashMap::new(),
            velocity: vec![None; c.n_w],
            outgoing: HashMap::new(),
            honest_sent: BTreeMap::new(),
            byz_own: BTreeMap::new(),
            byz_hold: BTreeMap::new(),
            acc: BTreeMap::new(),
            rows: Vec::new(),
            started: Instant::now(),
            rejected: 0,
            skipped: 0,
            last_params: None,
            nonfinite_gradient: false,
            waiting: 0.0,
            gather_hashes: Vec::new(),
            oracle,
            cfg,
        })
    }
}
