//! A node's checkpoint file: its [`Snapshot`] with who it belongs to, written atomically
//! (a temporary file, synced, then renamed over the old one) and checked when read: a file that
//! is torn, corrupt, not a checkpoint, or another node's or another configuration's is refused
//! with an error that says which, never loaded.
//!
//! Layout: `BYZSGDCK`, a format version (u32 LE), the body's length (u64 LE), the body (postcard
//! of [`Owner`] and the snapshot), the body's CRC-32 (u32 LE). Version 2 holds a worker's state
//! too (its step, momentum and filters), so a whole cluster stopped at once resumes where it was;
//! version 1 held a server's only.

use std::io::Write;
use std::path::Path;

use byzsgd_core::protocol::{ServerSnapshot, WorkerSnapshot};
use serde::{Deserialize, Serialize};

use crate::{NetError, Result};

const MAGIC: &[u8; 8] = b"BYZSGDCK";
const VERSION: u32 = 2;

/// What a node checkpoints: a server replica's state or a worker's.
// Written and read once per checkpoint: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Snapshot {
    /// A server replica's.
    Server(ServerSnapshot),
    /// A worker's.
    Worker(WorkerSnapshot),
}

/// Whose checkpoint it is: a file is only loaded by the node that wrote it, in the same cluster
/// and configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The cluster's name.
    pub cluster: String,
    /// The node (`s3`).
    pub node: String,
    /// A hash of the resolved training configuration and the initial model.
    pub config_hash: u64,
}

fn err(path: &Path, why: impl Into<String>) -> NetError {
    NetError::Checkpoint {
        path: path.display().to_string(),
        why: why.into(),
    }
}

/// Writes `snapshot` of `owner` to `path`, atomically.
pub fn write(path: &Path, owner: &Owner, snapshot: &Snapshot) -> Result<()> {
    let body = postcard::to_stdvec(&(owner, snapshot)).map_err(|e| err(path, e.to_string()))?;
    let mut bytes = Vec::with_capacity(body.len() + 24);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| err(path, e.to_string());
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself survives a power loss once the folder is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Reads the checkpoint at `path`, refusing it unless it is whole, intact and `owner`'s.
pub fn read(path: &Path, owner: &Owner) -> Result<Snapshot> {
    let (found, snapshot) = peek(path)?;
    if found.cluster != owner.cluster || found.node != owner.node {
        return Err(err(
            path,
            format!(
                "it is {}'s of cluster {:?}, not {}'s of {:?}",
                found.node, found.cluster, owner.node, owner.cluster
            ),
        ));
    }
    if found.config_hash != owner.config_hash {
        return Err(err(
            path,
            "written under another training configuration or initial model",
        ));
    }
    Ok(snapshot)
}

/// Reads the checkpoint at `path` whoever it belongs to (for inspection: a node loads only its
/// own, through [`read`]), refusing it unless it is whole and intact.
pub fn peek(path: &Path) -> Result<(Owner, Snapshot)> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(err(path, "not a byzsgd checkpoint"));
    }
    if bytes.len() < 20 {
        return Err(err(path, "truncated in its header"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(err(
            path,
            format!("format version {version}; this byzsgd reads {VERSION}"),
        ));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let want = 20u64.saturating_add(len).saturating_add(4);
    if bytes.len() as u64 != want {
        return Err(err(
            path,
            format!(
                "torn: {} bytes where its header announces {want} (a write that did not finish)",
                bytes.len()
            ),
        ));
    }
    let body = &bytes[20..bytes.len() - 4];
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Err(err(path, "corrupt: its checksum does not match"));
    }
    let ((found, snapshot), rest) = postcard::take_from_bytes::<(Owner, Snapshot)>(body)
        .map_err(|e| err(path, format!("malformed: {e}")))?;
    if !rest.is_empty() {
        return Err(err(path, "malformed: bytes after the snapshot"));
    }
    Ok((found, snapshot))
}
