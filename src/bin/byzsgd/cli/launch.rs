//! `byzsgd launch`: a whole cluster as separate processes on loopback, with the flags of
//! `simulate`. It writes `OUT/cluster.toml` and `OUT/certs/` (so any node can be restarted by
//! hand: `byzsgd server --config OUT/cluster.toml --id s3 --resume`), starts every node with its
//! log under `OUT/logs/`, writes `OUT/nodes.csv` once every node listens, follows the first
//! honest server's progress, and when the honest servers have finished stops the nodes and
//! merges their outputs ([`super::report`]). A node that dies is reported, and the run goes on
//! as long as the protocol can. Ctrl-C or SIGTERM stops every node as it stops itself (each
//! writes its checkpoint); `launch --resume --out OUT` then starts them all again from there.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use byzsgd_burn::{classifier_source, parse_device};
use byzsgd_core::node::GradientSource;
use byzsgd_core::protocol::Node;
use byzsgd_net::config::NetConfig;
use byzsgd_net::id;
use byzsgd_net::journal::Entry;
use byzsgd_net::tls::{keygen, write_keys};

use super::node::{read_cluster_file, wait_for_signal};
use super::progress::progress_bar;
use super::report::{print_summary, write_report};
use super::simulate::{Options, SimulateArgs, data, resolve_with_net};

/// Arguments of `byzsgd launch`: those of `simulate`, and the network's.
#[derive(Debug, Clone, clap::Args)]
pub struct LaunchArgs {
    /// The run's options, as for `simulate`.
    #[command(flatten)]
    pub sim: SimulateArgs,
    /// Seconds per timer unit (default: one gradient, measured, times the workers sharing a
    /// core).
    #[arg(long)]
    pub time_unit: Option<f64>,
    /// Give up when the first honest server makes no progress for this many seconds.
    #[arg(long, default_value_t = 300.0)]
    pub stall_seconds: f64,
    /// Restart the cluster of --out (its cluster.toml, certificates and addresses) with every
    /// node resuming from its checkpoint: after a stop (Ctrl-C, SIGTERM, a crash) the run goes
    /// on where each node was. The training flags come from the cluster file.
    #[arg(long)]
    pub resume: bool,
}

struct Proc {
    node: Node,
    child: Child,
    exited: Option<std::process::ExitStatus>,
}

/// Runs `byzsgd launch`.
pub fn run(args: &LaunchArgs, out: &mut impl Write) -> Result<()> {
    let stop = stop_flag();
    let (config, opts, cluster, dir) = if args.resume {
        resumed(args, out)?
    } else {
        prepare(args, out)?
    };
    if stop.load(Ordering::SeqCst) {
        bail!("stopped before any node started");
    }
    let exe = std::env::current_exe()?;
    let mut procs = Vec::new();
    for node in cluster.nodes() {
        let name = id::name(node);
        // A resumed node announces again that it listens: last run's note must not count.
        let _ = std::fs::remove_file(dir.join("nodes").join(&name).join("listening"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("logs").join(format!("{name}.log")))?;
        let mut cmd = Command::new(&exe);
        cmd.args([id::role(node), "--config"])
            .arg(&config)
            .args(["--id", &name])
            .env_remove("BYZSGD_ID")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if args.resume {
            cmd.arg("--resume");
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        procs.push(Proc {
            node,
            child,
            exited: None,
        });
    }
    let result = follow(&mut procs, &dir, &cluster, args, opts.sim.steps, &stop);
    stop_all(&mut procs);
    if stop.load(Ordering::SeqCst) {
        bail!(
            "stopped: every node was told to checkpoint and exit; go on with\n  byzsgd launch \
             --resume --out {}",
            dir.display()
        );
    }
    result?;
    let r = write_report(&config, &dir)?;
    print_summary(&r, &dir, out)
}

/// Set once Ctrl-C or SIGTERM reaches `launch`: it then stops its nodes as they stop
/// themselves (each writes its checkpoint), so the run can be resumed. The handlers are in
/// place when it returns (a signal before then would end launch and orphan its nodes).
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let (ready, installed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = ready.send(());
            return;
        };
        rt.block_on(async {
            let signal = wait_for_signal();
            // The first poll registers the handlers; then launch may go on.
            let mut signal = std::pin::pin!(signal);
            tokio::select! {
                biased;
                _ = &mut signal => {}
                _ = async { let _ = ready.send(()); std::future::pending::<()>().await } => {}
            }
        });
        set.store(true, Ordering::SeqCst);
    });
    let _ = installed.recv_timeout(Duration::from_secs(5));
    flag
}

/// A new cluster: its folder, cluster file, addresses and keys.
fn prepare(
    args: &LaunchArgs,
    out: &mut impl Write,
) -> Result<(PathBuf, Options, byzsgd_core::node::Cluster, PathBuf)> {
    let (mut opts, net_table) = resolve_with_net(&args.sim)?;
    let cluster = opts.sim.resolve()?;
    let c = cluster.shape();
    opts.sim.gather_period = Some(c.gather_period);
    if let Some(d) = &opts.data_dir {
        opts.data_dir = Some(std::path::absolute(d)?);
    }
    let dir = match &args.sim.out {
        Some(d) => d.clone(),
        None => {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            PathBuf::from("runs").join(format!(
                "{secs}-launch-{}-{}",
                opts.sim.mode, opts.sim.attack
            ))
        }
    };
    if dir.join("cluster.toml").exists() {
        bail!(
            "{} already holds a cluster (cluster.toml): pick another --out, or go on with its \
             run: byzsgd launch --resume --out {}",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    // The network settings: from --config's [net] if any, then loopback addresses.
    let mut net: NetConfig = match net_table {
        Some(v) => v.try_into().context("[net]")?,
        None => NetConfig::default(),
    };
    net.certs = "certs".into();
    net.out = ".".into();
    net.address = None;
    net.listen = None;
    net.nodes = free_ports(&cluster.nodes().collect::<Vec<_>>())?;
    // Timers in wall-clock: one gradient, measured here, times the workers sharing each core.
    let unit = match args.time_unit {
        Some(t) => t,
        None => {
            let device = parse_device(&opts.device)?;
            let (split, norm) = data(&opts)?;
            let (_, mut source) =
                classifier_source(&opts.model, &split, &norm, &device, opts.sim.clone())?;
            let p = source.initial_params();
            let t = Instant::now();
            source.gradient(0, 0, &p)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let share = (c.n_w as f64 / cores as f64).max(1.0);
            (2.0 * t.elapsed().as_secs_f64() * share).max(0.005)
        }
    };
    net.time_unit = Some(unit);
    net.check()?;
    let mut table = toml::Table::try_from(&opts).context("encoding the options")?;
    table.insert(
        "net".into(),
        toml::Value::try_from(&net).context("encoding [net]")?,
    );
    let config = dir.join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "# Written by byzsgd launch: restart a node with\n#   byzsgd server --config {} --id s0 --resume\n# or go on with a stopped run with\n#   byzsgd launch --resume --out {}\n{}",
            config.display(),
            dir.display(),
            toml::to_string(&table)?
        ),
    )?;
    let nodes: Vec<Node> = cluster.nodes().collect();
    write_keys(&keygen(&net.cluster, &nodes)?, &dir.join("certs"))?;
    writeln!(
        out,
        "launching {} servers ({} Byzantine, {}) and {} workers ({} Byzantine, {}) on loopback: \
         {} mode, {} on {}, {} steps; timer unit {:.3} s; logs in {}",
        c.n_ps,
        c.f_ps,
        opts.sim.server_attack,
        c.n_w,
        c.f_w,
        opts.sim.attack,
        opts.sim.mode,
        opts.model,
        opts.dataset,
        opts.sim.steps,
        unit,
        dir.join("logs").display()
    )?;
    Ok((config, opts, cluster, dir))
}

/// The cluster of `--out`, to resume.
fn resumed(
    args: &LaunchArgs,
    out: &mut impl Write,
) -> Result<(PathBuf, Options, byzsgd_core::node::Cluster, PathBuf)> {
    let Some(dir) = &args.sim.out else {
        bail!("--resume goes on with the run in --out DIR: give --out");
    };
    let config = dir.join("cluster.toml");
    if !config.exists() {
        bail!(
            "{} holds no cluster to resume (no cluster.toml): start one with byzsgd launch --out {}",
            dir.display(),
            dir.display()
        );
    }
    let (opts, _) = read_cluster_file(&config)?;
    let cluster = opts.sim.resolve()?;
    writeln!(
        out,
        "resuming the cluster of {}: {} steps; logs in {}",
        config.display(),
        opts.sim.steps,
        dir.join("logs").display()
    )?;
    Ok((config, opts, cluster, dir.clone()))
}
/// One free loopback port per node (bound, noted, released: a race with other programs is
/// possible, and then a node fails to listen and says so).
fn free_ports(nodes: &[Node]) -> Result<BTreeMap<String, String>> {
    let listeners = nodes
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    nodes
        .iter()
        .zip(&listeners)
        .map(|(&n, l)| Ok((id::name(n), l.local_addr()?.to_string())))
        .collect()
}

/// Waits for every node to listen (then writes `nodes.csv`), then follows the run until every
/// honest server that is still alive finished.
fn follow(
    procs: &mut [Proc],
    dir: &Path,
    cluster: &byzsgd_core::node::Cluster,
    args: &LaunchArgs,
    steps: u64,
    stop: &AtomicBool,
) -> Result<()> {
    let start = Instant::now();
    let mut listening: BTreeMap<Node, String> = BTreeMap::new();
    while listening.len() < procs.len() {
        for p in procs.iter_mut() {
            let f = dir.join("nodes").join(id::name(p.node)).join("listening");
            if let Ok(a) = std::fs::read_to_string(&f)
                && !a.trim().is_empty()
            {
                listening.insert(p.node, a.trim().to_string());
            }
            if let Some(status) = p.child.try_wait()?
                && !listening.contains_key(&p.node)
            {
                bail!(
                    "{} exited ({status}) before listening:\n{}",
                    id::name(p.node),
                    log_tail(dir, p.node)
                );
            }
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("the nodes did not all listen within 300 s");
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut csv = String::from("id,role,byzantine,pid,address\n");
    for p in procs.iter() {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            id::name(p.node),
            id::role(p.node),
            cluster.is_byzantine(p.node),
            p.child.id(),
            listening[&p.node]
        ));
    }
    std::fs::write(dir.join("nodes.csv"), csv)?;
    let honest: Vec<usize> = (0..cluster.shape().n_ps)
        .filter(|&s| !cluster.is_byzantine(Node::Server(s)))
        .collect();
    let bar = progress_bar(steps, args.sim.quiet);
    let mut last_step = 0u64;
    let mut last_progress = Instant::now();
    // Each node's journal, read as it grows.
    let mut tails: BTreeMap<Node, Tail> = procs.iter().map(|p| (p.node, Tail::default())).collect();
    loop {
        let journal = |node: Node| dir.join("nodes").join(id::name(node)).join("journal.jsonl");
        for p in procs.iter_mut() {
            // Exited or not: a node's journal is read after its status, so a node that wrote
            // its last line and exited is seen finished.
            let exited = p
                .exited
                .is_none()
                .then(|| p.child.try_wait())
                .transpose()?
                .flatten();
            let tail = tails.get_mut(&p.node).expect("a tail per node");
            tail.poll(&journal(p.node));
            if let Some(status) = exited {
                p.exited = Some(status);
                if !tail.finished {
                    eprintln!(
                        "{} exited ({status}) before finishing; the run goes on as long as the \
                         protocol can (log: {})",
                        id::name(p.node),
                        dir.join("logs")
                            .join(format!("{}.log", id::name(p.node)))
                            .display()
                    );
                }
            }
        }
        let finished = |s: usize| tails[&Node::Server(s)].finished;
        let alive: Vec<usize> = honest
            .iter()
            .copied()
            .filter(|&s| {
                procs
                    .iter()
                    .any(|p| p.node == Node::Server(s) && p.exited.is_none())
            })
            .collect();
        if alive.iter().all(|&s| finished(s)) {
            if !honest.iter().any(|&s| finished(s)) {
                bail!("every honest server exited before finishing");
            }
            bar.finish();
            return Ok(());
        }
        let step = honest
            .iter()
            .map(|&s| tails[&Node::Server(s)].steps)
            .max()
            .unwrap_or(0);
        if step > last_step {
            last_step = step;
            last_progress = Instant::now();
            let row = byzsgd_core::node::StepRow {
                wall_seconds: start.elapsed().as_secs_f64(),
                ..byzsgd_core::node::StepRow::unmeasured(step.saturating_sub(1))
            };
            bar.tick(&row, None);
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if last_progress.elapsed().as_secs_f64() > args.stall_seconds {
            bail!(
                "no progress for {} s at step {last_step}: stopping the cluster (see {})",
                args.stall_seconds,
                dir.join("logs").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A node's journal followed as it grows (only the new lines are read at each poll): the steps
/// its models show, and whether it finished.
#[derive(Debug, Default)]
struct Tail {
    offset: u64,
    partial: String,
    steps: u64,
    finished: bool,
}

impl Tail {
    fn poll(&mut self, path: &Path) {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(path) else {
            return;
        };
        let mut new = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut new).is_err() {
            return;
        }
        self.offset += new.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&new));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            match serde_json::from_str::<Entry>(&line) {
                Ok(Entry::Model { step, .. }) => self.steps = self.steps.max(step + 1),
                Ok(Entry::Finished { .. }) => self.finished = true,
                _ => {}
            }
        }
    }
}

fn log_tail(dir: &Path, node: Node) -> String {
    let text = std::fs::read_to_string(dir.join("logs").join(format!("{}.log", id::name(node))))
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// SIGTERM to every node still running (each writes its checkpoint), then SIGKILL to those
/// still there after 20 s.
fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter_mut() {
        if p.exited.is_none() && p.child.try_wait().ok().flatten().is_none() {
            terminate(&p.child);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for p in procs.iter_mut() {
        while Instant::now() < deadline {
            if p.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

/// SIGTERM to `child` (a node writes its checkpoint and exits), without a `kill` program (slim
/// container images have none).
fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a pid of a child this process started and has not reaped
            // (the caller checked with try_wait), so the pid names that child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}
