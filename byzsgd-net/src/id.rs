//! Node names as they appear in configuration files, logs and certificates: `s3` is server
//! replica 3, `w0` worker 0; in a certificate, the DNS name `s3.<cluster>` binds the name to a
//! key.

use byzsgd_core::protocol::Node;

use crate::{NetError, Result};

/// `server` or `worker`: the node's role, as commands and manifests name it.
pub fn role(node: Node) -> &'static str {
    match node {
        Node::Server(_) => "server",
        Node::Worker(_) => "worker",
    }
}

/// `s3` for server 3, `w0` for worker 0.
pub fn name(node: Node) -> String {
    match node {
        Node::Server(i) => format!("s{i}"),
        Node::Worker(i) => format!("w{i}"),
    }
}

/// The node a name stands for (`s3`, `w0`), refusing anything else: no sign, no leading zero,
/// no spaces.
pub fn parse(s: &str) -> Result<Node> {
    let bad = || {
        NetError::Config(format!(
            "{s:?} is not a node name (s0, s1, ... or w0, w1, ...)"
        ))
    };
    let (role, digits) = s.split_at_checked(1).ok_or_else(bad)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(bad());
    }
    let i: usize = digits.parse().map_err(|_| bad())?;
    match role {
        "s" => Ok(Node::Server(i)),
        "w" => Ok(Node::Worker(i)),
        _ => Err(bad()),
    }
}

/// The DNS name in `node`'s certificate: `s3.<cluster>`.
pub fn dns_name(node: Node, cluster: &str) -> String {
    format!("{}.{cluster}", name(node))
}

/// Checks a cluster name: it goes into DNS names, so lowercase letters, digits and `-`, dot-
/// separated labels of 1 to 63 characters, 200 at most in all.
pub fn check_cluster_name(cluster: &str) -> Result<()> {
    let ok = !cluster.is_empty()
        && cluster.len() <= 200
        && cluster.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(NetError::Config(format!(
            "cluster name {cluster:?}: use lowercase letters, digits, '-' and dots (it becomes \
             the DNS names s0.{cluster}, w0.{cluster} in the certificates)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_junk_is_refused() {
        for node in [Node::Server(0), Node::Server(12), Node::Worker(3)] {
            assert_eq!(parse(&name(node)).unwrap(), node);
        }
        for bad in [
            "",
            "s",
            "x1",
            "s01",
            "s-1",
            "s 1",
            "w1a",
            "S1",
            "s99999999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_cluster_name("byzsgd-1.lab").is_ok());
        for bad in ["", "Upper", "a..b", "-a", "a_b", "a b"] {
            assert!(check_cluster_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
