//! Which node a process is, when the command line does not say: the index the job engine gives
//! each task or pod, mapped onto the cluster's nodes, so one command line serves them all.
//!
//! The global index of a node: servers first, `0..n_ps` for `s0..`, then workers, `n_ps..n_ps
//! + n_w` for `w0..`. A process learns its node from, in this order:
//!
//! 1. `--id` (or `BYZSGD_ID`): a node's name (`s3`, `w0`) or a global index (`7`);
//! 2. `SLURM_PROCID`: the task's rank under `srun`;
//! 3. `JOB_COMPLETION_INDEX`: the pod's index in a Kubernetes indexed Job;
//! 4. the ordinal suffix of the host name: `byzsgd-4` (a StatefulSet's pod) is index 4.
//!
//! The first that is set decides; a value that is set but malformed, or an index beyond the
//! cluster, is an error, never a reason to look further (two tasks must never both become
//! `s0`).

use byzsgd_core::protocol::Node;

use crate::{NetError, Result, id};

/// The node of global index `index` in a cluster of `n_ps` servers and `n_w` workers.
pub fn node_of(index: usize, n_ps: usize, n_w: usize) -> Result<Node> {
    if index < n_ps {
        Ok(Node::Server(index))
    } else if index - n_ps < n_w {
        Ok(Node::Worker(index - n_ps))
    } else {
        Err(NetError::Config(format!(
            "index {index} is beyond the cluster: {n_ps} servers (0..{n_ps}) and {n_w} workers \
             ({n_ps}..{})",
            n_ps + n_w
        )))
    }
}

/// Every node of a cluster of `n_ps` servers and `n_w` workers, in index order.
pub fn all(n_ps: usize, n_w: usize) -> impl Iterator<Item = Node> {
    (0..n_ps)
        .map(Node::Server)
        .chain((0..n_w).map(Node::Worker))
}

/// The global index of `node` in a cluster of `n_ps` servers.
pub fn index_of(node: Node, n_ps: usize) -> usize {
    match node {
        Node::Server(i) => i,
        Node::Worker(i) => n_ps + i,
    }
}

/// Where a process found its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The node.
    pub node: Node,
    /// What said so, for the log: `--id s3`, `SLURM_PROCID=3`, `host name byzsgd-3`.
    pub source: String,
}

/// The index at the end of a host name: `byzsgd-4` and `byzsgd-4.byzsgd.default.svc` give 4;
/// `node` or `node-x` give none.
pub fn hostname_ordinal(host: &str) -> Option<usize> {
    let first = host.split('.').next()?;
    let (_, digits) = first.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn parse_index(what: &str, value: &str) -> Result<usize> {
    value.trim().parse().map_err(|_| {
        NetError::Config(format!(
            "{what}={value:?} is not an index (0, 1, ...): it names this node"
        ))
    })
}

/// This process's node in a cluster of `n_ps` servers and `n_w` workers, from `flag` (`--id`),
/// else the environment read through `env`, else `host` (the host name).
pub fn resolve(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    host: Option<&str>,
    n_ps: usize,
    n_w: usize,
) -> Result<Identity> {
    let in_cluster = |node: Node| {
        let ok = match node {
            Node::Server(i) => i < n_ps,
            Node::Worker(i) => i < n_w,
        };
        if ok {
            Ok(node)
        } else {
            Err(NetError::Config(format!(
                "{} is not in the cluster: it has {n_ps} servers and {n_w} workers",
                id::name(node)
            )))
        }
    };
    if let Some(f) = flag {
        let node = match f.parse::<usize>() {
            Ok(i) if !f.starts_with('+') => node_of(i, n_ps, n_w)?,
            _ => in_cluster(id::parse(f)?)?,
        };
        return Ok(Identity {
            node,
            source: format!("--id {f}"),
        });
    }
    for var in ["SLURM_PROCID", "JOB_COMPLETION_INDEX"] {
        if let Some(v) = env(var) {
            let node = node_of(parse_index(var, &v)?, n_ps, n_w)
                .map_err(|e| NetError::Config(format!("{var}={v}: {e}")))?;
            return Ok(Identity {
                node,
                source: format!("{var}={v}"),
            });
        }
    }
    if let Some(h) = host
        && let Some(i) = hostname_ordinal(h)
    {
        let node =
            node_of(i, n_ps, n_w).map_err(|e| NetError::Config(format!("host name {h}: {e}")))?;
        return Ok(Identity {
            node,
            source: format!("host name {h}"),
        });
    }
    Err(NetError::Config(format!(
        "which node is this? Give --id (s0, w3, or a global index: servers 0..{n_ps}, then \
         workers {n_ps}..{}), or run under an engine that sets SLURM_PROCID or \
         JOB_COMPLETION_INDEX, or on a host named like byzsgd-4 (a StatefulSet's pod){}",
        n_ps + n_w,
        host.map(|h| format!("; this host is {h:?}"))
            .unwrap_or_default()
    )))
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_index_maps_onto_one_node_and_back() {
        let (n_ps, n_w) = (5, 7);
        let nodes: Vec<Node> = (0..n_ps + n_w)
            .map(|i| node_of(i, n_ps, n_w).unwrap())
            .collect();
        assert_eq!(nodes[0], Node::Server(0));
        assert_eq!(nodes[4], Node::Server(4));
        assert_eq!(nodes[5], Node::Worker(0));
        assert_eq!(nodes[11], Node::Worker(6));
        for (i, &n) in nodes.iter().enumerate() {
            assert_eq!(index_of(n, n_ps), i);
        }
        assert_eq!(all(n_ps, n_w).collect::<Vec<_>>(), nodes);
        assert!(node_of(12, n_ps, n_w).is_err());
    }

    #[test]
    fn the_first_source_set_decides() {
        let none = env(&[]);
        let r = |flag, e: &dyn Fn(&str) -> Option<String>, host| {
            resolve(flag, e, host, 5, 7).map(|i| (i.node, i.source))
        };
        assert_eq!(r(Some("w2"), &none, None).unwrap().0, Node::Worker(2));
        assert_eq!(r(Some("6"), &none, None).unwrap().0, Node::Worker(1));
        let slurm = env(&[("SLURM_PROCID", "3"), ("JOB_COMPLETION_INDEX", "9")]);
        assert_eq!(
            r(None, &slurm, Some("byzsgd-8")).unwrap(),
            (Node::Server(3), "SLURM_PROCID=3".to_string())
        );
        // The flag wins over the environment.
        assert_eq!(r(Some("s0"), &slurm, None).unwrap().0, Node::Server(0));
        let job = env(&[("JOB_COMPLETION_INDEX", "9")]);
        assert_eq!(r(None, &job, Some("byzsgd-1")).unwrap().0, Node::Worker(4));
        assert_eq!(
            r(None, &none, Some("byzsgd-11.byzsgd.default.svc"))
                .unwrap()
                .0,
            Node::Worker(6)
        );
    }

    #[test]
    fn a_malformed_or_foreign_index_is_an_error_not_a_fallback() {
        let none = env(&[]);
        for (flag, e, host) in [
            (Some("s5"), env(&[]), None),
            (Some("12"), env(&[]), None),
            (Some("+1"), env(&[]), None),
            (Some("x"), env(&[]), None),
            (None, env(&[("SLURM_PROCID", "twelve")]), Some("byzsgd-1")),
            (None, env(&[("SLURM_PROCID", "12")]), Some("byzsgd-1")),
            (None, env(&[("JOB_COMPLETION_INDEX", "-1")]), None),
            (None, env(&[]), Some("byzsgd-12")),
            (None, env(&[]), Some("laptop")),
            (None, env(&[]), None),
        ] {
            assert!(
                resolve(flag, &e, host, 5, 7).is_err(),
                "{flag:?} {host:?} accepted"
            );
        }
        let err = resolve(None, &none, Some("laptop"), 5, 7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--id") && err.contains("laptop"), "{err}");
        assert_eq!(hostname_ordinal("node-x"), None);
        assert_eq!(hostname_ordinal("node"), None);
        assert_eq!(hostname_ordinal("a-b-0"), Some(0));
    }
}
