//! Deterministic fault tests on a simulated network (turmoil, seeded): whole clusters of real
//! nodes (TLS, handshakes, framing, the runner, inline executors) under partitions that heal,
//! message delay, connections broken at random, and a server that crashes and restarts from its
//! checkpoint. Small models: turmoil moves bytes slowly.

mod common;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byzsgd_core::node::Cluster;
use byzsgd_core::protocol::Node;
use byzsgd_net::checkpoint::{self, Owner};
use byzsgd_net::id;
use byzsgd_net::runner::{Checkpointing, Finished, Machine};
use byzsgd_net::transport::{Accept, Connect};
use common::*;
use tokio_util::sync::CancellationToken;

const PORT: u16 = 7000;

#[derive(Clone, Copy)]
struct Turmoil;

impl Connect for Turmoil {
    type Stream = turmoil::net::TcpStream;
    async fn connect(&self, addr: String) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }
}

struct Listener(turmoil::net::TcpListener);

impl Accept for Listener {
    type Stream = turmoil::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, String)> {
        let (s, a) = self.0.accept().await?;
        Ok((s, a.to_string()))
    }
}

type Results = Arc<Mutex<BTreeMap<Node, Finished>>>;

/// Registers every node of `cluster` as a turmoil host. Servers checkpoint every 5 steps into
/// `dir` and, when (re)started with a checkpoint there, resume from it.
fn hosts(
    sim: &mut turmoil::Sim<'_>,
    cluster: &Cluster,
    steps: u64,
    dir: &std::path::Path,
) -> Results {
    let results: Results = Arc::default();
    for node in cluster.nodes() {
        let (cluster, dir, results) = (cluster.clone(), dir.to_path_buf(), results.clone());
        sim.host(id::name(node), move || {
            let (cluster, dir, results) = (cluster.clone(), dir.clone(), results.clone());
            async move {
                let mut run = node_run(&cluster, node, steps, &dir);
                run.peers = run
                    .peers
                    .into_iter()
                    .map(|(p, _)| (p, format!("{}:{PORT}", id::name(p))))
                    .collect();
                if let Node::Server(_) = node {
                    let c = Checkpointing {
                        path: dir.join(format!("{}.ck", id::name(node))),
                        every: 5,
                        owner: Owner {
                            cluster: CLUSTER.into(),
                            node: id::name(node),
                            config_hash: 1,
                        },
                    };
                    if c.path.exists() {
                        let snapshot = checkpoint::read(&c.path, &c.owner)?;
                        run.machine = Machine::resumed(&cluster, node, vec![0.0; DIM], snapshot)?;
                        run.resumed = true;
                    }
                    run.checkpoint = Some(c);
                }
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
                let f = run
                    .run(Turmoil, Listener(listener), CancellationToken::new())
                    .await?;
                results.lock().unwrap().insert(node, f);
                Ok(())
            }
        });
    }
    results
}

fn sim(seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(130))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build()
}

/// Steps the simulation until every honest server finished (or the simulated time runs out: a
/// failure), calling `at` with the simulated seconds before each step.
fn until_done(
    sim: &mut turmoil::Sim<'_>,
    results: &Results,
    cluster: &Cluster,
    mut at: impl FnMut(&mut turmoil::Sim<'_>, f64),
) {
    let honest: Vec<Node> = (0..cluster.shape().n_ps)
        .map(Node::Server)
        .filter(|&n| !cluster.is_byzantine(n))
        .collect();
    loop {
        let done = {
            let r = results.lock().unwrap();
            honest.iter().all(|n| r.get(n).is_some_and(|f| f.completed))
        };
        if done {
            println!("done at {:.2} simulated s", sim.elapsed().as_secs_f64());
            return;
        }
        at(sim, sim.elapsed().as_secs_f64());
        sim.step().expect("the simulation steps");
        assert!(
            sim.elapsed() < Duration::from_secs(120),
            "the honest servers did not all finish: {:?} did",
            results.lock().unwrap().keys().collect::<Vec<_>>()
        );
    }
}

/// Steps `node` has recorded a model for, from its journal in `dir`.
fn journal_steps(dir: &std::path::Path, node: &str) -> u64 {
    std::fs::read_to_string(dir.join(node).join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "model")
        .filter_map(|v| v["step"].as_u64())
        .max()
        .map_or(0, |s| s + 1)
}

fn check(results: &Results, honest: &[usize]) {
    let r = results.lock().unwrap();
    let start = distance(&[0.0; DIM]);
    for &s in honest {
        let f = &r[&Node::Server(s)];
        let p = f.params.as_ref().expect("params");
        assert!(p.iter().all(|x| x.is_finite()));
        assert!(
            distance(p) < 0.3 * start,
            "s{s} ends {} from the optimum",
            distance(p)
        );
    }
}

/// s1 is cut off from every other node for 2 simulated seconds, twice; after each heal the
/// cluster goes on and every honest server finishes near the optimum.
#[test]
fn a_partition_heals() {
    for seed in [1, 2] {
        println!("seed {seed}");
        let steps = 100;
        let cluster = spec("async", steps).resolve().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut sim = sim(seed);
        let results = hosts(&mut sim, &cluster, steps, dir.path());
        let others: Vec<String> = cluster
            .nodes()
            .filter(|&n| n != Node::Server(1))
            .map(id::name)
            .collect();
        // Cut at s0's steps 10 and 40, each for 0.5 simulated seconds (about 10 steps).
        let mut cut = [(10, None, false), (40, None, false)];
        let root = dir.path().to_path_buf();
        until_done(&mut sim, &results, &cluster, |sim, t| {
            let step = journal_steps(&root, "s0");
            for (at, since, healed) in cut.iter_mut() {
                if step >= *at && since.is_none() {
                    *since = Some(t);
                    for o in &others {
                        sim.partition("s1", o.as_str());
                    }
                }
                if since.is_some_and(|s| t >= s + 0.5) && !*healed {
                    *healed = true;
                    for o in &others {
                        sim.repair("s1", o.as_str());
                    }
                }
            }
        });
        assert!(
            cut.iter().all(|c| c.2),
            "the run ended before both partitions healed"
        );
        check(&results, &[0, 1, 2, 3]);
    }
}

/// Latency up to 50 ms and connections that break at random (turmoil's TCP has no
/// retransmission: a lost segment breaks the connection, which the nodes dial again) in both
/// modes.
#[test]
fn delay_and_broken_connections() {
    for (seed, mode) in [(3, "async"), (4, "sync")] {
        println!("seed {seed}, {mode}");
        let steps = 30;
        let cluster = spec(mode, steps).resolve().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .simulation_duration(Duration::from_secs(130))
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(50))
            .fail_rate(0.002)
            .repair_rate(0.5)
            .build();
        let results = hosts(&mut sim, &cluster, steps, dir.path());
        until_done(&mut sim, &results, &cluster, |_, _| {});
        check(&results, &[0, 1, 2, 3]);
    }
}

/// s1 crashes, stays down 2 simulated seconds, and restarts from its checkpoint: the others
/// train on meanwhile, it catches up, and all finish near the optimum.
#[test]
fn a_server_crashes_and_restarts_from_its_checkpoint() {
    for seed in [5, 6] {
        println!("seed {seed}");
        let steps = 80;
        let cluster = spec("async", steps).resolve().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut sim = sim(seed);
        let results = hosts(&mut sim, &cluster, steps, dir.path());
        let (mut crashed, mut restarted) = (None, false);
        let root = dir.path().to_path_buf();
        until_done(&mut sim, &results, &cluster, |sim, t| {
            if crashed.is_none() && journal_steps(&root, "s1") >= 12 {
                crashed = Some(t);
                sim.crash("s1");
            }
            if crashed.is_some_and(|c| t >= c + 0.5) && !restarted {
                restarted = true;
                assert!(dir.path().join("s1.ck").exists(), "s1 never checkpointed");
                sim.bounce("s1");
            }
        });
        assert!(restarted, "the run ended before s1 came back");
        check(&results, &[0, 1, 2, 3]);
    }
}
