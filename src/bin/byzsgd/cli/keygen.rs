//! `byzsgd keygen`: a cluster CA and one key and certificate per node of a cluster file, for
//! mutual TLS between the nodes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use byzsgd_net::tls::{keygen, write_keys};

use byzsgd_core::node::Cluster;

use super::node::read_cluster_file;

/// Arguments of `byzsgd keygen`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeygenArgs {
    /// The cluster file (its [net] cluster name and its node counts).
    #[arg(long)]
    pub config: PathBuf,
    /// Where to write ca.pem, ca.key and <id>.pem, <id>.key per node (default: the [net] certs
    /// folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `byzsgd keygen`.
pub fn run(args: &KeygenArgs, out: &mut impl Write) -> Result<()> {
    let (opts, net) = read_cluster_file(&args.config)?;
    let cluster: Cluster = opts.sim.resolve()?;
    let nodes: Vec<_> = cluster.nodes().collect();
    let dir = args.out.clone().unwrap_or_else(|| net.certs.clone());
    let keys = keygen(&net.cluster, &nodes)?;
    write_keys(&keys, &dir)?;
    writeln!(
        out,
        "wrote a CA and keys for {} nodes of cluster {} to {} (keep ca.key off the nodes)",
        nodes.len(),
        net.cluster,
        dir.display()
    )?;
    Ok(())
}
