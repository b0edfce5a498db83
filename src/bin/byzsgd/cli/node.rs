//! `byzsgd node`, `byzsgd server` and `byzsgd worker`: one node of a cluster as its own process,
//! from a cluster file (the training keys of `simulate`, plus the `[net]` table of
//! [`byzsgd_net::config::NetConfig`]). The node is `--id`, or the index its job engine gives it
//! ([`byzsgd_net::identity`]). Every node checkpoints (servers their replica state, workers
//! their step and momentum), so `--resume` continues a node, or a whole cluster stopped at once.
//! Shared with `launch` and `report`: reading a cluster file into everything a node computes
//! with ([`Setup`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use byzsgd_burn::{ModuleSource, classifier_source, parse_device};
use byzsgd_core::node::{Cluster, GradientSource, mix, model_hash};
use byzsgd_core::protocol::Node;
use byzsgd_datasets::ImageItem;
use byzsgd_models::Model;
use byzsgd_net::checkpoint::Owner;
use byzsgd_net::config::NetConfig;
use byzsgd_net::runner::{Checkpointing, Executor, Machine, NodeRun, WallTimers};
use byzsgd_net::tls::Tls;
use byzsgd_net::transport::{Limits, Local, Tcp};
use byzsgd_net::wire::{Hello, PROTOCOL_VERSION};
use byzsgd_net::{id, identity, journal::Journal};
use tokio_util::sync::CancellationToken;

use super::simulate::{Options, SimulateArgs, data, resolve_with_net};

/// Arguments of `byzsgd node`, `byzsgd server` and `byzsgd worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The cluster file (byzsgd launch writes one: OUT/cluster.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// This node: s0, s1, ... for a server, w0, w1, ... for a worker, or a global index
    /// (servers 0..n_ps, then workers). Without it: SLURM_PROCID, JOB_COMPLETION_INDEX, or the
    /// host name's ordinal (byzsgd-4).
    #[arg(long, env = "BYZSGD_ID")]
    pub id: Option<String>,
    /// Restart from this node's checkpoint (nodes/<id>/checkpoint.bin: a server's replica state,
    /// a worker's step and momentum) and catch up with the peers. Without a checkpoint, a node
    /// that never ran starts afresh and one that ran (its journal is there) rejoins with its
    /// state lost: so the same command line serves the first start and every restart.
    #[arg(long)]
    pub resume: bool,
    /// Say which node this is, where it listens and what it would resume from, then exit.
    #[arg(long)]
    pub dry_run: bool,
    /// List the cluster's nodes, one per line: global index, name, role, address ("-" where
    /// the file gives none), then exit (whatever --id or BYZSGD_ID say).
    #[arg(long, conflicts_with_all = ["resume", "dry_run"])]
    pub list: bool,
    /// Once finished, stay until stopped rather than exit, answering peers that lag (their
    /// catch-ups and pulls): for engines that restart a container that exits, such as a
    /// Kubernetes StatefulSet. The final model is written when it finishes.
    #[arg(long)]
    pub wait_when_done: bool,
}

/// A cluster file, read and checked: what every node of it computes with.
pub struct Setup {
    /// The training options.
    pub opts: Options,
    /// The `[net]` table.
    pub net: NetConfig,
    /// The checked cluster.
    pub cluster: Cluster,
    /// The model and data.
    pub source: ModuleSource<Model, ImageItem>,
    /// The handshake every node of this cluster sends (but for its name).
    pub hello: Hello,
}

/// The settings two nodes must agree on, key by key: the resolved training configuration but
/// what is each node's own business (where its data is, its device, its threads, its timers,
/// how often it evaluates) and the simulated network.
pub fn settings(o: &Options) -> Result<BTreeMap<String, String>> {
    let v = serde_json::to_value(o)?;
    let serde_json::Value::Object(map) = v else {
        bail!("the options are not a table");
    };
    const LOCAL: &[&str] = &[
        "data_dir",
        "device",
        "threads",
        "eval_every",
        "timers",
        "network",
    ];
    Ok(map
        .into_iter()
        .filter(|(k, _)| !LOCAL.contains(&k.as_str()))
        .map(|(k, v)| (k, v.to_string()))
        .collect())
}

/// Reads the cluster file at `path`: the training options and the `[net]` table, checked but
/// without loading data.
pub fn read_cluster_file(path: &Path) -> Result<(Options, NetConfig)> {
    let args = SimulateArgs {
        config: Some(path.to_path_buf()),
        ..SimulateArgs::default()
    };
    let (opts, net) = resolve_with_net(&args)?;
    let Some(net) = net else {
        bail!(
            "{}: no [net] table (the cluster's name and its nodes' addresses; byzsgd launch \
             writes a complete cluster file)",
            path.display()
        );
    };
    let mut table = toml::Table::new();
    table.insert("net".into(), net);
    let base = path.parent().unwrap_or(Path::new("."));
    let net =
        NetConfig::take(&mut table, base).with_context(|| format!("in {}", path.display()))?;
    opts.sim
        .resolve()
        .with_context(|| format!("in {}", path.display()))?;
    Ok((opts, net))
}

/// Reads the cluster file at `path`, with the data and the model.
pub fn setup(path: &Path) -> Result<Setup> {
    let (opts, net) = read_cluster_file(path)?;
    setup_from(opts, net)
}

/// Everything a node computes with, from a cluster file already read ([`read_cluster_file`]).
pub fn setup_from(mut opts: Options, net: NetConfig) -> Result<Setup> {
    let device = parse_device(&opts.device)?;
    let (split, norm) = data(&opts)?;
    let (cluster, source) =
        classifier_source(&opts.model, &split, &norm, &device, opts.sim.clone())?;
    opts.sim.gather_period = Some(cluster.shape().gather_period);
    opts.sim.pre = cluster.spec().pre.clone();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cluster: net.cluster.clone(),
        node: String::new(),
        dim: source.dim() as u64,
        settings: settings(&opts)?,
        init_hash: model_hash(&source.initial_params()),
    };
    Ok(Setup {
        opts,
        net,
        cluster,
        source,
        hello,
    })
}

impl Setup {
    /// A hash of everything two nodes must agree on: what a checkpoint is bound to.
    pub fn config_hash(&self) -> u64 {
        let mut h = self.hello.init_hash ^ self.hello.dim;
        for (k, v) in &self.hello.settings {
            for b in k.bytes().chain(v.bytes()) {
                h = mix(h.rotate_left(5), u64::from(b) + 1);
            }
        }
        h
    }

    /// The first honest server: it evaluates the test accuracy as it trains.
    pub fn evaluator(&self) -> usize {
        let c = self.cluster.shape();
        (0..c.n_ps)
            .find(|&s| !c.is_byzantine(Node::Server(s)))
            .unwrap_or(0)
    }
}

/// The seconds of one timer unit: one gradient, measured (twice, for the noise of a shared
/// machine), unless the cluster file sets it.
fn time_unit(net: &NetConfig, source: &mut dyn GradientSource) -> Result<Duration> {
    if let Some(t) = net.time_unit {
        return Ok(Duration::from_secs_f64(t.max(1e-3)));
    }
    let params = source.initial_params();
    let t = Instant::now();
    source.gradient(0, 0, &params)?;
    Ok((2 * t.elapsed()).max(Duration::from_millis(5)))
}

fn logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `byzsgd node` (`role` `None`: the index decides), `byzsgd server` or `byzsgd worker`.
pub fn run(args: &NodeArgs, role: Option<&str>, out: &mut impl std::io::Write) -> Result<()> {
    logs();
    let (opts, net) = read_cluster_file(&args.config)?;
    let c = opts.sim.resolve()?.shape();
    if args.list {
        for (i, node) in identity::all(c.n_ps, c.n_w).enumerate() {
            let address = net
                .address(node, c.n_ps)
                .unwrap_or_else(|_| "-".to_string());
            writeln!(out, "{i} {} {} {address}", id::name(node), id::role(node))?;
        }
        return Ok(());
    }
    let who = identity::resolve(
        args.id.as_deref(),
        |k| std::env::var(k).ok(),
        identity::host_name().as_deref(),
        c.n_ps,
        c.n_w,
    )
    .with_context(|| format!("in the cluster of {}", args.config.display()))?;
    let me = who.node;
    let is = id::role(me);
    if let Some(role) = role
        && role != is
    {
        bail!(
            "{} ({}) is a {is}, not a {role}: run byzsgd {is}, or byzsgd node",
            id::name(me),
            who.source
        );
    }
    let ckpt = net.node_dir(me).join("checkpoint.bin");
    let start = match (args.resume, ckpt.exists()) {
        (false, _) => Start::Fresh,
        (true, true) => Start::Checkpoint,
        (true, false) if net.node_dir(me).join("journal.jsonl").exists() => Start::Rejoin,
        (true, false) => Start::Fresh,
    };
    let line = format!(
        "{} ({is}, from {}): {}; listens on {}; {}",
        id::name(me),
        who.source,
        if c.is_byzantine(me) {
            "Byzantine"
        } else {
            "correct"
        },
        net.listen_address(me, c.n_ps)
            .unwrap_or_else(|e| format!("nothing ({e})")),
        match start {
            Start::Fresh => "starts afresh".to_string(),
            Start::Checkpoint => format!("resumes from {}", ckpt.display()),
            Start::Rejoin => format!(
                "rejoins with its state lost (it ran, but {} is missing)",
                ckpt.display()
            ),
        }
    );
    if args.dry_run {
        writeln!(out, "{line}")?;
        return Ok(());
    }
    tracing::info!("{line}");
    // One process per node and folder: a second one (a job submitted twice on a shared
    // folder, a stray BYZSGD_ID) would write the same checkpoint and journal.
    let _lock = lock_node_dir(&net.node_dir(me))?;
    let s = setup_from(opts, net)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let finished = runtime.block_on(run_node(s, me, start, args.wait_when_done))?;
    if let Some(g) = &finished.gave_up {
        bail!(
            "{} gave up at step {}: {g}. Its checkpoint is written: once its peers are back, run \
             it again with --resume (if the rest of the cluster finished without it, nothing \
             is lost); [net] give_up sets the patience",
            id::name(me),
            finished.step
        );
    }
    writeln!(
        out,
        "{} {} at step {}",
        id::name(me),
        if finished.completed {
            "finished"
        } else {
            "stopped"
        },
        finished.step
    )?;
    Ok(())
}

/// Holds `dir/lock` exclusively for as long as the returned file lives, or says which node's
/// folder another process holds.
fn lock_node_dir(dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another process runs this node already: it holds {} (two processes must never be \
             the same node)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// How a node starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// From the initial model, at step 0.
    Fresh,
    /// From its checkpoint.
    Checkpoint,
    /// It ran before and lost its state: it catches up with its peers.
    Rejoin,
}

/// Runs node `me`; with `wait_when_done` it lingers after finishing until stopped.
async fn run_node(
    s: Setup,
    me: Node,
    start: Start,
    wait_when_done: bool,
) -> Result<byzsgd_net::runner::Finished> {
    let (config_hash, evaluator) = (s.config_hash(), s.evaluator());
    let Setup {
        opts,
        net,
        cluster,
        source,
        mut hello,
    } = s;
    let name = id::name(me);
    hello.node = name.clone();
    let dim = source.dim();
    let tls = Tls::load(&net.cert_paths(me), &net.cluster)?;
    let mut source: Box<dyn GradientSource> = Box::new(source);
    let unit = time_unit(&net, source.as_mut())?;
    let shape = cluster.shape();
    let dir = net.node_dir(me);
    let journal = Journal::open(&dir)?;
    let checkpoint = Checkpointing {
        path: dir.join("checkpoint.bin"),
        every: net.checkpoint_every,
        owner: Owner {
            cluster: net.cluster.clone(),
            node: name.clone(),
            config_hash,
        },
    };
    let init = source.initial_params();
    let machine = match (start, me) {
        (Start::Checkpoint, _) => Machine::resumed(
            &cluster,
            me,
            init,
            byzsgd_net::checkpoint::read(&checkpoint.path, &checkpoint.owner)?,
        )?,
        (Start::Rejoin, Node::Server(i)) => {
            Machine::Server(cluster.restarted_server(i, init, None)?)
        }
        (Start::Rejoin, Node::Worker(i)) => Machine::Worker(cluster.resumed_worker(i, dim, None)?),
        (Start::Fresh, Node::Server(i)) => Machine::Server(cluster.server(i, init)?),
        (Start::Fresh, Node::Worker(i)) => Machine::Worker(cluster.worker(i, dim)?),
    };
    // Servers dial everyone; workers dial the servers.
    let peers = cluster
        .nodes()
        .filter(|&p| p != me && (matches!(me, Node::Server(_)) || matches!(p, Node::Server(_))))
        .map(|p| Ok((p, net.address(p, shape.n_ps)?)))
        .collect::<byzsgd_net::Result<Vec<_>>>()?;
    let listen = net.listen_address(me, shape.n_ps)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr()?;
    std::fs::write(dir.join("listening"), format!("{bound}\n"))?;
    tracing::info!("{name} listening on {bound}; time unit {unit:?}");
    let evaluates = me == Node::Server(evaluator);
    let run = NodeRun {
        local: Local {
            me,
            tls,
            hello,
            limits: Limits::for_dim(dim),
        },
        byzantine: cluster.is_byzantine(me),
        machine,
        shape,
        source: (matches!(me, Node::Worker(_)) || evaluates).then_some(source),
        steps: opts.sim.steps,
        eval_every: Some(opts.sim.eval_every),
        timers: WallTimers::scaled(opts.sim.timers, unit),
        peers,
        linger: if wait_when_done {
            Duration::MAX
        } else {
            Duration::try_from_secs_f64(net.linger).unwrap_or(Duration::MAX)
        },
        // 0, or beyond what a Duration holds: never.
        give_up: (net.give_up > 0.0)
            .then(|| Duration::try_from_secs_f64(net.give_up).ok())
            .flatten(),
        executor: Executor::Thread,
        checkpoint: Some(checkpoint),
        journal: Some(journal),
        resumed: start != Start::Fresh,
    };
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        signal.cancel();
    });
    Ok(run.run(Tcp, listener, stop).await?)
}

/// Ctrl-C, or SIGTERM on Unix.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
