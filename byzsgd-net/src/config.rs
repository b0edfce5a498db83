//! The `[net]` table of a cluster file: what a node needs beyond the training keys it shares with
//! `byzsgd simulate`. Relative paths are relative to the cluster file.
//!
//! ```toml
//! [net]
//! cluster = "lab"                 # the cluster's name, in every certificate: s0.lab, w3.lab
//! certs = "certs"                 # ca.pem, <id>.pem, <id>.key (byzsgd keygen)
//! out = "."                       # each node writes nodes/<id>/ here
//! address = "{id}.lab.svc:7000"   # every node's address, {id} its name, {i} its index ...
//! nodes = { s0 = "10.0.0.1:7000" } # ... or node by node (these win)
//! listen = "0.0.0.0:{port}"       # bind here instead of the node's own address (containers;
//!                                 # {port} is the port of the node's own address)
//! time_unit = 0.05                # seconds per timer unit (default: a gradient, measured)
//! linger = 10.0                   # seconds a finished node keeps answering its peers
//! give_up = 1800.0                # seconds without progress before a node ends with an error
//!                                 # naming the peers it cannot dial (0: it waits for ever)
//! checkpoint_every = 50           # a node checkpoints every this many steps (0: on stop)
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
    /// Every node's address, `{id}` replaced by its name (`s3`) and `{i}` by its global index
    /// (servers `0..n_ps`, then workers: [`crate::identity`]). A host name is resolved at each
    /// connection attempt, so peers that start in any order, or move, are found.
    pub address: Option<String>,
    /// Addresses node by node.
    pub nodes: BTreeMap<String, String>,
    /// Where to listen instead of the node's own address; `{port}` is replaced by the port of
    /// the node's own address (`0.0.0.0:{port}`: every interface, the announced port).
    pub listen: Option<String>,
    /// Seconds per timer unit; default: one gradient computation, measured at start.
    pub time_unit: Option<f64>,
    /// Seconds a finished node keeps answering.
    pub linger: f64,
    /// Seconds a node waits without progress (an update or contraction of a server, a gradient of
    /// a worker, a catch-up) before it gives up: it writes its checkpoint and ends with an error
    /// naming the peers it cannot dial; 0: never. A node whose peers all finished and left while
    /// it was cut off would otherwise wait for ever. 30 minutes by default: longer than a
    /// Kubernetes node's eviction and volume detach, or an image pull before the first step.
    pub give_up: f64,
    /// A node checkpoints every this many steps (0: only when stopped and at the end).
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
            give_up: 1800.0,
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
            && !a.contains("{i}")
        {
            return Err(NetError::Config(format!(
                "[net] address {a:?} has neither {{id}} nor {{i}}: every node would have the \
                 same address"
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
        positive("give_up", self.give_up)?;
        if let Some(t) = self.time_unit {
            positive("time_unit", t)?;
        }
        Ok(())
    }

    /// `node`'s address in a cluster of `n_ps` servers.
    pub fn address(&self, node: Node, n_ps: usize) -> Result<String> {
        let name = id::name(node);
        if let Some(a) = self.nodes.get(&name) {
            return Ok(a.clone());
        }
        match &self.address {
            Some(p) => Ok(p
                .replace("{id}", &name)
                .replace("{i}", &crate::identity::index_of(node, n_ps).to_string())),
            None => Err(NetError::Config(format!(
                "[net]: no address for {name} (add it to nodes, or set an address pattern)"
            ))),
        }
    }

    /// Where `node` listens: `listen`, else its own address.
    pub fn listen_address(&self, node: Node, n_ps: usize) -> Result<String> {
        match &self.listen {
            Some(l) if l.contains("{port}") => {
                let own = self.address(node, n_ps)?;
                let port = own
                    .rsplit_once(':')
                    .map(|(_, p)| p)
                    .filter(|p| p.parse::<u16>().is_ok())
                    .ok_or_else(|| {
                        NetError::Config(format!(
                            "[net] listen {l:?} takes the port of {}'s address {own:?}, which \
                             has none",
                            id::name(node)
                        ))
                    })?;
                Ok(l.replace("{port}", port))
            }
            Some(l) => Ok(l.clone()),
            None => self.address(node, n_ps),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_the_node_table_then_the_pattern() {
        let mut c = NetConfig {
            address: Some("byzsgd-{i}.byzsgd.default.svc:7000".into()),
            ..NetConfig::default()
        };
        c.nodes.insert("w1".into(), "10.0.0.9:7000".into());
        c.check().unwrap();
        let a = |n| c.address(n, 5).unwrap();
        assert_eq!(a(Node::Server(3)), "byzsgd-3.byzsgd.default.svc:7000");
        assert_eq!(a(Node::Worker(0)), "byzsgd-5.byzsgd.default.svc:7000");
        assert_eq!(a(Node::Worker(1)), "10.0.0.9:7000");
        c.address = Some("{id}.lab:7000".into());
        assert_eq!(c.address(Node::Worker(2), 5).unwrap(), "w2.lab:7000");
        c.address = Some("one.lab:7000".into());
        assert!(c.check().is_err(), "a pattern without a placeholder");
        c.address = None;
        assert!(c.address(Node::Server(0), 5).is_err());
        c.listen = Some("0.0.0.0:{port}".into());
        assert_eq!(
            c.listen_address(Node::Worker(1), 5).unwrap(),
            "0.0.0.0:7000"
        );
        c.nodes.insert("w2".into(), "somewhere".into());
        assert!(c.listen_address(Node::Worker(2), 5).is_err());
        c.listen = Some("0.0.0.0:9".into());
        assert_eq!(c.listen_address(Node::Worker(2), 5).unwrap(), "0.0.0.0:9");
    }
}
