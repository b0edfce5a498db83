//! The `[net]` table of a cluster file: what a node needs beyond the training keys it shares with
//! `byzsgd simulate`. Relative paths are relative to the cluster file.
//!
//! ```toml
//! [net]
//! cluster = "lab"                 # the cluster's name, in every certificate: s0.lab, w3.lab
//! certs = "certs"                 # ca.pem, <id>.pem, <id>.key (byzsgd keygen)
//! out = "."                       # each node writes nodes/<id>/ here
//! address = "{id}.lab.svc:7000"   # every node's address, {id} its name ...
//! nodes = { s0 = "10.0.0.1:7000" } # ... or node by node (these win)
//! listen = "0.0.0.0:7000"         # bind here instead of the node's own address (containers)
//! time_unit = 0.05                # seconds per timer unit (default: a gradient, measured)
//! linger = 10.0                   # seconds a finished node keeps answering its peers
//! checkpoint_every = 50           # a server checkpoints every this many steps (0: on stop)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use byzsgd_core::protocol::Node;
use serde::{Deserialize, Serialize};

use crate::tls::CertPaths;
use crate::{NetError, Result, id};

/// The `[net]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// The cluster's name (DNS labels).
    pub cluster: String,
    /// The folder of the key material.
    pub certs: PathBuf,
    /// Where nodes write their folders.
    pub out: PathBuf,
    /// Every node's address, `{id}` replaced by its name.
    pub address: Option<String>,
    /// Addresses node by node.
    pub nodes: BTreeMap<String, String>,
    /// Where to listen instead of the node's own address.
    pub listen: Option<String>,
    /// Seconds per timer unit; default: one gradient computation, measured at start.
    pub time_unit: Option<f64>,
    /// Seconds a finished node keeps answering.
    pub linger: f64,
    /// A server checkpoints every this many steps (0: only when stopped and at the end).
    pub checkpoint_every: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            cluster: "byzsgd".into(),
            certs: "certs".into(),
            out: ".".into(),
            address: None,
            nodes: BTreeMap::new(),
            listen: None,
            time_unit: None,
            linger: 10.0,
            checkpoint_every: 50,
        }
    }
}

impl NetConfig {
    /// Takes the `[net]` table out of a cluster file's `table` (the rest is the training's),
    /// resolving relative paths against `base`, the file's folder.
    pub fn take(table: &mut toml::Table, base: &Path) -> Result<Self> {
        let mut c: NetConfig = match table.remove("net") {
            None => {
                return Err(NetError::Config(
                    "no [net] table: a cluster file names the cluster and its nodes' addresses \
                     there (byzsgd launch writes one)"
                        .into(),
                ));
            }
            Some(v) => v
                .try_into()
                .map_err(|e| NetError::Config(format!("[net]: {e}")))?,
        };
        c.certs = base.join(&c.certs);
        c.out = base.join(&c.out);
        c.check()?;
        Ok(c)
    }

    /// Checks the names, addresses and durations.
    pub fn check(&self) -> Result<()> {
        id::check_cluster_name(&self.cluster)?;
        for name in self.nodes.keys() {
            id::parse(name).map_err(|e| NetError::Config(format!("[net] nodes: {e}")))?;
        }
        if let Some(a) = &self.address
            && !a.contains("{id}")
        {
            return Err(NetError::Config(format!(
                "[net] address {a:?} has no {{id}}: every node would have the same address"
            )));
        }
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(NetError::Config(format!(
                    "[net] {name} = {v}: seconds, 0 or more"
                )))
            }
        };
        positive("linger", self.linger)?;
        if let Some(t) = self.time_unit {
            positive("time_unit", t)?;
        }
        Ok(())
    }

    /// `node`'s address.
    pub fn address(&self, node: Node) -> Result<String> {
        let name = id::name(node);
        if let Some(a) = self.nodes.get(&name) {
            return Ok(a.clone());
        }
        match &self.address {
            Some(p) => Ok(p.replace("{id}", &name)),
            None => Err(NetError::Config(format!(
                "[net]: no address for {name} (add it to nodes, or set an address pattern)"
            ))),
        }
    }

    /// `node`'s key material.
    pub fn cert_paths(&self, node: Node) -> CertPaths {
        CertPaths::in_dir(&self.certs, node)
    }

    /// `node`'s output folder.
    pub fn node_dir(&self, node: Node) -> PathBuf {
        self.out.join("nodes").join(id::name(node))
    }
}
