//! `byzsgd bench wire` and `byzsgd bench loris`: what the network runtime costs.
//!
//! - `wire`: encoding a gradient into a frame and decoding it back, against a memcpy of the same
//!   bytes (median of `--repeats` interleaved rounds); then one such message through the whole
//!   stack, from a dialler's write to the listener's decoded message, over TLS on a loopback TCP
//!   connection, both ends on one thread: its CPU time is what each message of a cluster costs
//!   its two nodes together.
//! - `loris`: a node's resident memory under a slow-loris attack: `--stalled` authenticated peers
//!   each send a maximum-size frame but its last byte and stall, and `--handshakes` connections
//!   open and sit in the handshake; the resident set before and after, against the bound
//!   baseline + (peers + handshake slots) × frame limit.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use byzsgd_core::protocol::{Message, Node};
use byzsgd_net::framing::codec;
use byzsgd_net::tls::{ClusterKeys, Tls, keygen};
use byzsgd_net::transport::{Limits, Local, dial, serve};
use byzsgd_net::wire::{Hello, PROTOCOL_VERSION, decode_message, encode_message, frame_limit};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Encoder;

use super::bench_overhead::{MODES, random_images};
use super::stats::median;

/// Arguments of `byzsgd bench wire`.
#[derive(Debug, Clone, clap::Args)]
pub struct WireArgs {
    /// Floats in the vector (default: CifarNet's 1,756,426).
    #[arg(long, default_value_t = 1_756_426)]
    pub d: usize,
    /// Timed rounds; medians are reported.
    #[arg(long, default_value_t = 21)]
    pub repeats: usize,
}

/// Node `me` of the benchmarks' cluster `bench`, with its key from `keys`, a model of `d`
/// parameters and `limits`.
fn bench_node(keys: &ClusterKeys, me: Node, d: usize, limits: Limits) -> Result<Local> {
    let name = byzsgd_net::id::name(me);
    let (_, cert, key) = keys
        .nodes
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a key per node");
    let tls = Tls::from_pem(
        keys.ca_cert.as_bytes(),
        cert.as_bytes(),
        key.as_bytes(),
        BENCH_CLUSTER,
    )?;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cluster: BENCH_CLUSTER.into(),
        node: name,
        dim: d as u64,
        settings: Default::default(),
        init_hash: 0,
    };
    Ok(Local {
        me,
        tls,
        hello,
        limits,
    })
}

/// The benchmarks' cluster name.
const BENCH_CLUSTER: &str = "bench";

/// One message through the whole stack, `rounds` times: a dialler writes it ([`write_frame`])
/// to a listener ([`serve`]) over TLS on loopback TCP, which reads, decodes and hands it on. Both
/// ends run on one thread, so the wall time is their CPU time together (the kernel's loopback
/// work included); returns the medians of wall and CPU seconds per message.
fn through_the_stack(msg: &Message, d: usize, rounds: usize) -> Result<(f64, f64)> {
    use byzsgd_core::protocol::Event;
    use byzsgd_net::framing::write_frame;
    use byzsgd_net::journal::cpu_seconds;
    use byzsgd_net::transport::Input;
    use byzsgd_net::wire::Frame;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (s0, w0) = (Node::Server(0), Node::Worker(0));
        let keys = keygen(BENCH_CLUSTER, &[s0, w0])?;
        let local = |me: Node| bench_node(&keys, me, d, Limits::for_dim(d));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(serve(listener, local(s0)?, tx));
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut stream = dial(&local(w0)?, tcp, s0).await?;
        let limit = frame_limit(d);
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        let cpu_now = || cpu_seconds().context("this system gives no process CPU time");
        for round in 0..=rounds {
            let (t, c) = (Instant::now(), cpu_now()?);
            write_frame(&mut stream, &Frame::message(msg), limit).await?;
            match rx.recv().await {
                Some(Input::Event(Event::Received { msg: got, .. })) => {
                    if got.vector().map(|v| v.len()) != Some(d) {
                        bail!("the message arrived without its vector");
                    }
                }
                other => bail!("expected the message, got {other:?}"),
            }
            if round > 0 {
                wall.push(t.elapsed().as_secs_f64());
                cpu.push(cpu_now()? - c);
            }
        }
        Ok((median(wall), median(cpu)))
    })
}

/// Runs `byzsgd bench wire`.
pub fn wire(a: &WireArgs, out: &mut impl Write) -> Result<()> {
    if a.repeats == 0 || a.d == 0 {
        bail!("--d and --repeats must be at least 1");
    }
    let v: Vec<f32> = (0..a.d).map(|i| (i as f32).sin()).collect();
    let msg = Message::Gradient {
        step: 12_345,
        grad: Arc::new(v),
    };
    let bytes: Vec<u8> = msg
        .vector()
        .expect("a vector")
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let mut copy = vec![0u8; bytes.len()];
    let (mut t_copy, mut t_fresh, mut t_enc, mut t_dec, mut t_frame) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut framed = BytesMut::new();
    for round in 0..=a.repeats {
        let t = Instant::now();
        copy.copy_from_slice(&bytes);
        std::hint::black_box(&copy);
        let memcpy = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fresh = bytes.to_vec();
        std::hint::black_box(&fresh);
        let to_vec = t.elapsed().as_secs_f64();
        drop(fresh);
        let t = Instant::now();
        let enc = encode_message(&msg);
        let encode = t.elapsed().as_secs_f64();
        let payload = Bytes::from(enc.clone());
        let t = Instant::now();
        framed.clear();
        codec(frame_limit(a.d)).encode(payload, &mut framed)?;
        let frame = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let back = decode_message(&enc)?;
        let decode = t.elapsed().as_secs_f64();
        if back.vector().map(|v| v.len()) != Some(a.d) {
            bail!("the round trip lost the vector");
        }
        if round > 0 {
            t_copy.push(memcpy);
            t_fresh.push(to_vec);
            t_enc.push(encode);
            t_dec.push(decode);
            t_frame.push(frame);
        }
    }
    let (c, e, d, f) = (
        median(t_copy),
        median(t_enc),
        median(t_dec),
        median(t_frame),
    );
    let fresh = median(t_fresh);
    let mb = bytes.len() as f64 / 1e6;
    writeln!(out, "{} floats ({mb:.1} MB), median of {}:", a.d, a.repeats)?;
    for (name, t) in [
        ("memcpy (into a buffer)", c),
        ("to_vec (into a new one)", fresh),
        ("encode", e),
        ("decode", d),
        ("encode + decode", e + d),
        ("length prefix (codec copy)", f),
    ] {
        writeln!(
            out,
            "{name:<28} {:>8.3} ms {:>8.2} GB/s  {:>5.2}x memcpy's speed",
            1e3 * t,
            mb / 1e3 / t,
            c / t
        )?;
    }
    let (wall, cpu) = through_the_stack(&msg, a.d, a.repeats)?;
    writeln!(
        out,
        "{:<28} {:>8.3} ms {:>8.2} GB/s  {:>5.2}x memcpy's time; CPU {:.3} ms",
        "through TLS on loopback",
        1e3 * wall,
        mb / 1e3 / wall,
        wall / c,
        1e3 * cpu
    )?;
    Ok(())
}

/// Arguments of `byzsgd bench loris`.
#[derive(Debug, Clone, clap::Args)]
pub struct LorisArgs {
    /// Model dimension (default: CifarNet's).
    #[arg(long, default_value_t = 1_756_426)]
    pub d: usize,
    /// Authenticated peers that each send all of a maximum-size frame but its last byte, then
    /// stall.
    #[arg(long, default_value_t = 2)]
    pub stalled: usize,
    /// Unauthenticated connections opened and left in the handshake.
    #[arg(long, default_value_t = 100)]
    pub handshakes: usize,
}

/// Resident set size of this process, bytes (Linux).
fn rss() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/self/statm"))?;
    Ok(pages * 4096)
}

/// Runs `byzsgd bench loris`.
pub fn loris(a: &LorisArgs, out: &mut impl Write) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(loris_async(a, out))
}

async fn loris_async(a: &LorisArgs, out: &mut impl Write) -> Result<()> {
    let workers = a.stalled.max(1);
    let nodes: Vec<Node> = std::iter::once(Node::Server(0))
        .chain((0..workers).map(Node::Worker))
        .collect();
    let keys = keygen(BENCH_CLUSTER, &nodes)?;
    let limits = Limits {
        frame_deadline: Duration::from_secs(60),
        handshake_deadline: Duration::from_secs(60),
        ..Limits::for_dim(a.d)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(serve(
        listener,
        bench_node(&keys, Node::Server(0), a.d, limits)?,
        tx,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = rss()?;
    let limit = frame_limit(a.d);
    let mut held = Vec::new();
    for w in 0..a.stalled {
        let local = bench_node(&keys, Node::Worker(w), a.d, limits)?;
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut s = dial(&local, tcp, Node::Server(0)).await?;
        s.write_all(&(limit as u32).to_be_bytes()).await?;
        let body = vec![7u8; limit - 1];
        s.write_all(&body).await?;
        s.flush().await?;
        held.push(s);
    }
    let mut idle = Vec::new();
    for _ in 0..a.handshakes {
        // Connections the node may close at once (over the caps) are still counted.
        if let Ok(c) = tokio::net::TcpStream::connect(addr).await {
            idle.push(c);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss()?;
    let slots = limits.max_handshakes;
    let bound = baseline + ((a.stalled + slots) * limit) as u64;
    let mb = |b: u64| b as f64 / 1e6;
    writeln!(
        out,
        "frame limit {:.1} MB; {} stalled peers, {} connections in the handshake (caps: {} in \
         all, {} per source)",
        mb(limit as u64),
        a.stalled,
        a.handshakes,
        slots,
        limits.max_handshakes_per_source
    )?;
    writeln!(
        out,
        "resident: baseline {:.1} MB, under attack {:.1} MB (+{:.1} MB); bound baseline + \
         (peers + slots) x frame limit = {:.1} MB: {}",
        mb(baseline),
        mb(after),
        mb(after.saturating_sub(baseline)),
        mb(bound),
        if after <= bound { "held" } else { "EXCEEDED" }
    )?;
    drop(held);
    drop(idle);
    Ok(())
}

/// Arguments of `byzsgd bench loopback`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopbackArgs {
    /// The model (random CIFAR-10-shaped images are written for it in the official format).
    #[arg(long, default_value = "cifarnet")]
    pub model: String,
    /// Steps per run; the first 3 and the last are not timed.
    #[arg(long, default_value_t = 16)]
    pub steps: u64,
    /// Minibatch per worker.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Runs of each mode, interleaved; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Where the runs go, kept afterwards (default: a temporary folder, removed when the
    /// benchmark succeeds and kept, with its logs, when it fails).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Seconds per step of a launched run: between the 3rd step and the one before the last.
fn launched_per_step(dir: &std::path::Path) -> Result<f64> {
    let csv = std::fs::read_to_string(dir.join("metrics.csv"))?;
    let wall: Vec<f64> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.parse().ok())
        .collect();
    let n = wall.len();
    if n < 5 {
        bail!("{}: {n} steps recorded", dir.display());
    }
    Ok((wall[n - 2] - wall[2]) / (n - 4) as f64)
}

/// One training run as a cluster of processes on loopback (`byzsgd launch`), for timing:
/// ByzSGD's Byzantine slots follow the protocol, no evaluation.
pub struct Launched<'a> {
    /// The data set's name.
    pub dataset: &'a str,
    /// Its directory (`None`: the data set's default location).
    pub data_dir: Option<&'a std::path::Path>,
    /// The model.
    pub model: &'a str,
    /// Minibatch per worker.
    pub batch: usize,
    /// Steps (at least 6: the first 3 and the last are not timed).
    pub steps: u64,
    /// Byzantine workers ByzSGD declares (they follow the protocol); vanilla has none.
    pub byz_workers: usize,
}

impl Launched<'_> {
    /// Seconds per step of the cluster `mode` (one of [`MODES`]) run into `dir`, with each
    /// node's peak memory and CPU time per step.
    pub fn per_step(&self, mode: &str, dir: &std::path::Path) -> Result<Timed> {
        let f_w = self.byz_workers.to_string();
        let flags: &[&str] = match mode {
            "vanilla" => &[
                "--mode",
                "vanilla",
                "--servers",
                "1",
                "--byz-servers",
                "0",
                "--byz-workers",
                "0",
            ],
            "async" | "sync" => &["--mode", mode, "--byz-workers", &f_w],
            _ => bail!("unknown cluster {mode:?}; known: {}", MODES.join(", ")),
        };
        let mut launch = std::process::Command::new(std::env::current_exe()?);
        launch.args(["launch", "--quiet", "--dataset", self.dataset]);
        if let Some(dir) = self.data_dir {
            launch.arg("--data-dir").arg(dir);
        }
        let o = launch
            .args(["--model", self.model, "--batch", &self.batch.to_string()])
            .args(["--steps", &self.steps.to_string(), "--eval-every", "0"])
            .args(["--attack", "none", "--server-attack", "none"])
            .args(flags)
            .arg("--out")
            .arg(dir)
            .output()?;
        if !o.status.success() {
            bail!(
                "launch {mode}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let s = launched_per_step(dir)?;
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json"))?)?;
        let by_node = |key: &str| {
            summary[key].as_object().map_or(Vec::new(), |m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect()
            })
        };
        Ok(Timed {
            seconds: s,
            peak_rss_mb: by_node("peak_rss_mb"),
            cpu_ms: by_node("cpu_ms_per_step"),
        })
    }
}

/// What one launched run measured.
pub struct Timed {
    /// Wall seconds per step.
    pub seconds: f64,
    /// Each node's peak resident memory, MB.
    pub peak_rss_mb: Vec<(String, f64)>,
    /// Each node's CPU time per step over the same steps, ms (every thread of its process).
    pub cpu_ms: Vec<(String, f64)>,
}

impl Timed {
    /// The largest of `values` among the nodes whose name starts with `role` (`s`, `w`).
    fn most(values: &[(String, f64)], role: char) -> f64 {
        values
            .iter()
            .filter(|(k, _)| k.starts_with(role))
            .map(|(_, v)| *v)
            .fold(0.0, f64::max)
    }

    /// CPU ms per step: every node together, the busiest server, the busiest worker.
    fn cpu(&self) -> [f64; 3] {
        [
            self.cpu_ms.iter().map(|(_, v)| v).sum(),
            Self::most(&self.cpu_ms, 's'),
            Self::most(&self.cpu_ms, 'w'),
        ]
    }
}

/// Runs `byzsgd bench loopback`: vanilla, async and sync ByzSGD, each a cluster of processes
/// over TLS on loopback (`byzsgd launch`), ByzSGD's Byzantine slots following the protocol.
pub fn loopback(a: &LoopbackArgs, out: &mut impl Write) -> Result<()> {
    use byzsgd_models::Model;
    if a.steps < 6 || a.repeats == 0 {
        bail!("--steps must be at least 6 and --repeats at least 1");
    }
    let shape = Model::info(&a.model)?.input;
    if shape != [3, 32, 32] {
        bail!("{} does not take CIFAR-10 images", a.model);
    }
    let tmp = tempfile_dir(a.out.as_deref())?;
    let result = loopback_in(a, &tmp, out);
    match (&result, &a.out) {
        // Each run writes its cluster's checkpoints and model: 2.2 GB for the default 3 repeats.
        (Ok(()), None) => std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("removing the temporary folder {}", tmp.display()))?,
        (Err(_), None) => eprintln!("the runs' folder, with their logs: {}", tmp.display()),
        (_, Some(_)) => {}
    }
    result
}

/// [`loopback`]'s runs, in `tmp`.
fn loopback_in(a: &LoopbackArgs, tmp: &std::path::Path, out: &mut impl Write) -> Result<()> {
    use byzsgd_datasets::write_cifar10_dir;
    use byzsgd_models::Model;
    let data = tmp.join("data");
    let split = random_images(&a.model, 7 * a.batch * 4, 1)?;
    write_cifar10_dir(&data, &split)?;
    let mut times = vec![Vec::new(); MODES.len()];
    let mut cpu: Vec<[Vec<f64>; 3]> = vec![Default::default(); MODES.len()];
    let mut rss: Vec<Vec<(String, f64)>> = vec![Vec::new(); MODES.len()];
    for r in 0..a.repeats {
        for (i, mode) in MODES.iter().enumerate() {
            let run = Launched {
                dataset: "cifar10",
                data_dir: Some(&data),
                model: &a.model,
                batch: a.batch,
                steps: a.steps,
                // As recorded in BENCHMARKS.md: no Byzantine worker declared.
                byz_workers: 0,
            };
            let t = run.per_step(mode, &tmp.join(format!("{mode}-{r}")))?;
            let spent = t.cpu();
            let [all, server, worker] = spent;
            eprintln!(
                "run {}/{} {mode}: {:.1} ms/step; CPU ms/step: {all:.0} in all, busiest server \
                 {server:.0}, busiest worker {worker:.0}",
                r + 1,
                a.repeats,
                1e3 * t.seconds
            );
            times[i].push(t.seconds);
            for (k, v) in spent.into_iter().enumerate() {
                cpu[i][k].push(v);
            }
            rss[i] = t.peak_rss_mb;
        }
    }
    let dim = Model::info(&a.model)?.params;
    let model_mb = dim as f64 * 4.0 / 1e6;
    writeln!(
        out,
        "{} ({model_mb:.1} MB of f32), batch {} x 7 workers, processes over TLS on loopback \
         (median of {}):",
        a.model, a.batch, a.repeats
    )?;
    writeln!(
        out,
        "{:<8} {:>9} {:>9}  {:>26}  {:>33}",
        "mode",
        "ms/step",
        "overhead",
        "peak RSS (MB): server, worker",
        "CPU ms/step: all, server, worker"
    )?;
    let base = median(times[0].clone());
    for (i, name) in MODES.iter().enumerate() {
        let t = median(times[i].clone());
        let [all, server, worker] = cpu[i].clone().map(median);
        writeln!(
            out,
            "{name:<8} {:>9.1} {:>8.1}%  {:>26}  {:>33}",
            1e3 * t,
            100.0 * (t / base - 1.0),
            format!(
                "{:.0}, {:.0}",
                Timed::most(&rss[i], 's'),
                Timed::most(&rss[i], 'w')
            ),
            format!("{all:.0}, {server:.0}, {worker:.0}"),
        )?;
    }
    writeln!(
        out,
        "(CPU: every thread of a node's process over the timed steps; \"all\" sums the nodes, \
         \"server\" and \"worker\" are the busiest of each)"
    )?;
    Ok(())
}

fn tempfile_dir(out: Option<&std::path::Path>) -> Result<std::path::PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("byzsgd-loopback-{}", std::process::id())),
    };
    if dir.exists() {
        bail!("{} exists: pick another --out", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
