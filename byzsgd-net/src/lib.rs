//! # byzsgd-net
//!
//! The TCP runtime of byzsgd: each node of a ByzSGD cluster as its own process, talking to its
//! peers over mutually authenticated TLS. It drives the same node layer as the simulator
//! ([`byzsgd_core::node`]): the protocol's state machines, their rules and attacks; it only moves
//! events and actions between them and the outside (tokio, sockets, timers, files) and holds no
//! protocol behaviour.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`wire`] | what a frame holds ([`wire::Frame`], the handshake's [`wire::Hello`]) and its strict postcard encoding, vectors as raw little-endian f32 |
//! | [`framing`] | `LengthDelimitedCodec` with a limit from the model size; the per-frame deadline; a writer that sends a vector without copying it |
//! | [`tls`] | mutual TLS (rustls, `ring`), node identities in DNS SANs, `keygen` |
//! | [`transport`] | handshakes, connection caps and deadlines, per-peer queues, reconnect with backoff, over any byte stream |
//! | [`runner`] | one node: its state machine on a thread of its own (or inline), timers, gradients, checkpoints, its journal |
//! | [`journal`] | what a node writes as it runs, and [`journal::merge`] for a whole cluster's |
//! | [`checkpoint`] | a node's checkpoint file (a replica's state, a worker's momentum): atomic, checked, refused when torn or foreign |
//! | [`config`] | the `[net]` table of a cluster file: the cluster's name, nodes, addresses, certificates |
//! | [`memnet`] | an in-memory network for tests: the whole transport over duplex pipes |
//! | [`id`] | node names (`s3`, `w0`) and their DNS names |
//! | [`identity`] | which node a process is: `--id`, or the index Slurm, an indexed Job or a StatefulSet gives it |
//!
//! The transport is generic over the byte stream ([`transport::Connect`],
//! [`transport::Accept`]): TCP in production, in-memory duplex streams or a simulated network
//! in tests.

pub mod checkpoint;
pub mod config;
pub mod framing;
pub mod id;
pub mod identity;
pub mod journal;
pub mod memnet;
pub mod runner;
pub mod tls;
pub mod transport;
pub mod wire;

/// What can go wrong in the network runtime.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A bad configuration or key file.
    #[error("{0}")]
    Config(String),
    /// A peer failed authentication.
    #[error("authentication: {0}")]
    Auth(String),
    /// A peer trains with another configuration.
    #[error("configuration mismatch: {0}")]
    Mismatch(String),
    /// A handshake that went wrong.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A checkpoint that cannot be used.
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The protocol core refused something.
    #[error(transparent)]
    Core(#[from] byzsgd_core::Error),
    /// The node's own computation failed (a worker's gradient).
    #[error("{0}")]
    Failed(String),
}

/// This crate's results.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
