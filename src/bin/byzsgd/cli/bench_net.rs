//! `byzsgd bench wire` and `byzsgd bench loris`: what the network runtime costs.
//!
//! - `wire`: encoding a gradient into a frame and decoding it back, against a memcpy of the same
//!   bytes (median of `--repeats` interleaved rounds).
//! - `loris`: a node's resident memory under a slow-loris attack: `--stalled` authenticated peers
//!   each send a maximum-size frame but its last byte and stall, and `--handshakes` connections
//!   open and sit in the handshake; the resident set before and after, against the bound
//!   baseline + (peers + handshake slots) × frame limit.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::{Bytes, BytesMut};
use byzsgd_core::protocol::{Message, Node};
use byzsgd_net::framing::codec;
use byzsgd_net::tls::{Tls, keygen};
use byzsgd_net::transport::{Limits, Local, dial, serve};
use byzsgd_net::wire::{Hello, PROTOCOL_VERSION, decode_message, encode_message, frame_limit};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Encoder;

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let cluster = "bench";
    let workers = a.stalled.max(1);
    let nodes: Vec<Node> = std::iter::once(Node::Server(0))
        .chain((0..workers).map(Node::Worker))
        .collect();
    let keys = keygen(cluster, &nodes)?;
    let tls = |name: &str| -> Result<Tls> {
        let (_, cert, key) = keys
            .nodes
            .iter()
            .find(|(n, _, _)| n == name)
            .expect("a key per node");
        Ok(Tls::from_pem(
            keys.ca_cert.as_bytes(),
            cert.as_bytes(),
            key.as_bytes(),
            cluster,
        )?)
    };
    let hello = |node: &str| Hello {
        version: PROTOCOL_VERSION,
        cluster: cluster.into(),
        node: node.into(),
        dim: a.d as u64,
        settings: Default::default(),
        init_hash: 0,
    };
    let limits = Limits {
        frame_deadline: Duration::from_secs(60),
        handshake_deadline: Duration::from_secs(60),
        ..Limits::for_dim(a.d)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let me = Local {
        me: Node::Server(0),
        tls: tls("s0")?,
        hello: hello("s0"),
        limits,
    };
    tokio::spawn(serve(listener, me, tx));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = rss()?;
    let limit = frame_limit(a.d);
    let mut held = Vec::new();
    for w in 0..a.stalled {
        let name = format!("w{w}");
        let local = Local {
            me: Node::Worker(w),
            tls: tls(&name)?,
            hello: hello(&name),
            limits,
        };
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
