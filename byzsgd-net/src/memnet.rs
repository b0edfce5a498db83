//! An in-memory network: [`Connect`] and [`Accept`] over tokio's duplex pipes, addressed by
//! name. The whole transport (TLS, handshakes, framing, limits) runs on it unchanged, so a
//! cluster can run in one process and one test, and a test can stand in for any peer.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use crate::transport::{Accept, Connect};

/// Bytes in flight per direction of a pipe.
const PIPE: usize = 256 * 1024;

type Listeners = HashMap<String, mpsc::Sender<(DuplexStream, String)>>;

/// An in-memory network.
#[derive(Debug, Clone, Default)]
pub struct MemNet {
    listeners: Arc<Mutex<Listeners>>,
}

/// Connections to an address of a [`MemNet`].
#[derive(Debug)]
pub struct MemListener {
    rx: mpsc::Receiver<(DuplexStream, String)>,
}

impl MemNet {
    /// A network with nobody listening.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens at `addr` (replacing whoever listened there).
    pub fn listen(&self, addr: &str) -> MemListener {
        let (tx, rx) = mpsc::channel(1024);
        self.listeners
            .lock()
            .expect("not poisoned")
            .insert(addr.to_string(), tx);
        MemListener { rx }
    }

    /// Nobody listens at `addr` any more: connections to it are refused (a crashed node).
    pub fn close(&self, addr: &str) {
        self.listeners.lock().expect("not poisoned").remove(addr);
    }

    /// A raw pipe to whoever listens at `addr`, as a test's hand-made peer uses it.
    pub fn pipe(&self, addr: &str, from: &str) -> io::Result<DuplexStream> {
        let tx = self
            .listeners
            .lock()
            .expect("not poisoned")
            .get(addr)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::ConnectionRefused, addr.to_string()))?;
        let (mine, theirs) = tokio::io::duplex(PIPE);
        tx.try_send((theirs, from.to_string()))
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, addr.to_string()))?;
        Ok(mine)
    }
}

impl Connect for MemNet {
    type Stream = DuplexStream;
    async fn connect(&self, addr: String) -> io::Result<DuplexStream> {
        self.pipe(&addr, "memory")
    }
}

impl Accept for MemListener {
    type Stream = DuplexStream;
    async fn accept(&mut self) -> io::Result<(DuplexStream, String)> {
        match self.rx.recv().await {
            Some(x) => Ok(x),
            None => std::future::pending().await,
        }
    }
}
