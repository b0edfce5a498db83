//! `byzsgd place`: a cluster file that puts node `i` (servers first, then workers) on the
//! `i`-th host of a list, at port `BASE + i`: how the Slurm batch script turns an allocation
//! (`scontrol show hostnames`) into the file every task reads. The training keys of the base
//! file stay as they are; `[net]` gets the addresses, `certs = "certs"`, `out = "."` and
//! `listen = "0.0.0.0:{port}"`. Shared with `keygen --kubernetes`: [`with_net`], the edit of a
//! cluster file's `[net]` table.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use byzsgd_net::config::NetConfig;
use byzsgd_net::{id, identity};

use super::simulate::{SimulateArgs, resolve_with_net};

/// Arguments of `byzsgd place`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlaceArgs {
    /// The base cluster file (training keys, and [net] if any).
    #[arg(long)]
    pub config: PathBuf,
    /// The hosts, one per line ("-": standard input), one node per host in index order.
    #[arg(long)]
    pub hosts: PathBuf,
    /// Node i listens on BASE + i.
    #[arg(long, default_value_t = 7000)]
    pub port: u16,
    /// The cluster file to write (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
}

/// `text` (a cluster file) with its `[net]` table (or a new one) changed by `edit`, checked.
pub fn with_net(text: &str, edit: impl FnOnce(&mut NetConfig)) -> Result<String> {
    let mut table: toml::Table = text.parse().context("the cluster file")?;
    let mut net = if table.contains_key("net") {
        NetConfig::take(&mut table, Path::new(""))?
    } else {
        NetConfig::default()
    };
    edit(&mut net);
    net.check()?;
    table.insert("net".into(), toml::Value::try_from(&net)?);
    Ok(toml::to_string(&table)?)
}

/// Runs `byzsgd place`.
pub fn run(args: &PlaceArgs, out: &mut impl Write) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let (opts, _) = resolve_with_net(&SimulateArgs {
        config: Some(args.config.clone()),
        ..SimulateArgs::default()
    })?;
    let c = opts.sim.resolve()?.shape();
    let n = c.n_ps + c.n_w;
    let mut list = String::new();
    if args.hosts.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut list)?;
    } else {
        list = std::fs::read_to_string(&args.hosts)
            .with_context(|| format!("reading {}", args.hosts.display()))?;
    }
    let hosts: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if hosts.len() < n {
        bail!(
            "{} nodes ({} servers, {} workers) but {} hosts: one node per host",
            n,
            c.n_ps,
            c.n_w,
            hosts.len()
        );
    }
    if usize::from(args.port) + n > usize::from(u16::MAX) + 1 {
        bail!("--port {}: {n} ports from there pass 65535", args.port);
    }
    let placed = with_net(&text, |net| {
        net.certs = "certs".into();
        net.out = ".".into();
        net.address = None;
        net.listen = Some("0.0.0.0:{port}".into());
        net.nodes = identity::all(c.n_ps, c.n_w)
            .enumerate()
            .map(|(i, node)| {
                (
                    id::name(node),
                    format!("{}:{}", hosts[i], usize::from(args.port) + i),
                )
            })
            .collect();
    })?;
    let tmp = args.out.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!(
            "# Written by byzsgd place: node i on host i, port {} + i.\n{placed}",
            args.port
        ),
    )
    .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    writeln!(
        out,
        "placed {n} nodes, one per host (of {}): {}",
        hosts.len(),
        args.out.display()
    )?;
    Ok(())
}
