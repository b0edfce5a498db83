//! `byzsgd keygen`: a cluster CA and one key and certificate per node of a cluster file, for
//! mutual TLS between the nodes; with `--kubernetes DIR`, the manifests that run the cluster
//! there too ([`super::kubernetes`]).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use byzsgd_net::tls::{keygen, write_keys};

use byzsgd_core::node::Cluster;

use super::kubernetes::{Manifests, app_name, pod_cluster_file};
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
    /// Also write Kubernetes manifests here: a headless Service, the cluster file as a
    /// ConfigMap, one StatefulSet per node, the CA's ConfigMap and one Secret per node (in
    /// secrets/: apply them, never commit them).
    #[arg(long, value_name = "DIR")]
    pub kubernetes: Option<PathBuf>,
    /// The container image of the manifests' pods.
    #[arg(long, default_value = "byzsgd:0.1.0", requires = "kubernetes")]
    pub image: String,
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
    if let Some(k) = &args.kubernetes {
        let text = std::fs::read_to_string(&args.config)
            .with_context(|| format!("reading {}", args.config.display()))?;
        let app = app_name(&net.cluster);
        let m = Manifests {
            cluster_file: pod_cluster_file(&text, &app)?,
            app,
            image: args.image.clone(),
            shape: cluster.shape(),
        };
        m.write(k, &keys)?;
        writeln!(
            out,
            "wrote Kubernetes manifests to {}: kubectl apply -f {} -f {}/secrets (one Secret per \
             node: never commit them)",
            k.display(),
            k.display(),
            k.display()
        )?;
    }
    Ok(())
}
