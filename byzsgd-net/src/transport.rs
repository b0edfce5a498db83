//! Connections between nodes, over any byte stream.
//!
//! Each node dials every peer it sends to (a server dials everyone, a worker the servers) and
//! writes its messages to that peer on the connection it dialled; it reads what peers send on
//! the connections they dialled to it. A connection starts with TLS ([`Tls`]), then each end
//! sends a [`Hello`] and checks the other's: the listener that the dialler's certificate names
//! the node it claims, both that the training configuration is the same. Then the dialler
//! writes frames and the listener reads them, decodes them strictly and hands them to the node
//! as [`Event::Received`] from the authenticated peer.
//!
//! Bounds: at most [`Limits::max_handshakes`] connections in the handshake at once (more are
//! closed at once), each with [`Limits::handshake_deadline`]; one live connection per peer (a
//! new one replaces the old: the peer restarted or lost it); a frame over the limit or late
//! ([`Limits::frame_deadline`]) closes the connection, as does a frame that does not decode;
//! the queue to each peer holds [`Limits::queue`] messages (more are dropped and counted: the
//! protocol re-sends what matters). The dialler pings every [`Limits::keepalive`] and the
//! listener answers: an end that hears nothing for three takes the connection for dead (a
//! crashed peer, or a path that silently drops everything, where TCP itself could take a quarter
//! of an hour to notice) and closes it. A dialler that loses its connection dials again with
//! exponential backoff; once through, the node gets [`Event::Connected`] and sends again the
//! current step's messages. Nothing a peer does is an error of the node: it is logged and
//! recorded against the peer ([`Fault`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byzsgd_core::protocol::{Event, Message, Node};
use futures_util::SinkExt;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::{client, server};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use crate::framing::{FrameError, bytes, codec, read_frame, write_frame};
use crate::id;
use crate::tls::Tls;
use crate::wire::{self, DecodeError, Frame, HELLO_LIMIT, Hello};
use crate::{NetError, Result};

/// The transport's bounds and deadlines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The largest frame after the handshake ([`wire::frame_limit`] of the model dimension).
    pub frame_limit: usize,
    /// Connections in the handshake at once.
    pub max_handshakes: usize,
    /// Of those, from one source address (so one host cannot take every slot).
    pub max_handshakes_per_source: usize,
    /// TLS and hellos must be done within this.
    pub handshake_deadline: Duration,
    /// A frame that started must finish within this.
    pub frame_deadline: Duration,
    /// Messages queued to one peer.
    pub queue: usize,
    /// The first wait before dialling again; it doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest wait between dials.
    pub backoff_max: Duration,
    /// A dialler pings every this often and the listener answers; either end that hears nothing
    /// for three of these takes the connection for dead (a crashed peer, or a path that drops
    /// everything) and closes it, and the dialler dials again.
    pub keepalive: Duration,
}

impl Limits {
    /// Defaults for models of `dim` parameters.
    pub fn for_dim(dim: usize) -> Self {
        Self {
            frame_limit: wire::frame_limit(dim),
            max_handshakes: 64,
            max_handshakes_per_source: 16,
            handshake_deadline: Duration::from_secs(5),
            frame_deadline: Duration::from_secs(30),
            queue: 64,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            keepalive: Duration::from_secs(2),
        }
    }
}

/// Misbehaviour of an authenticated peer, recorded against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A frame that did not decode (the connection was closed).
    Decode(DecodeError),
    /// A frame over the limit, cut short, or too slow (the connection was closed).
    Frame(String),
    /// A handshake where a message was due.
    Unexpected,
}

impl Fault {
    /// A short name for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Decode(_) => "decode",
            Fault::Frame(_) => "frame",
            Fault::Unexpected => "unexpected handshake",
        }
    }
}

/// What the transport hands the node.
#[derive(Debug)]
pub enum Input {
    /// A protocol event: a message from an authenticated peer, or a reconnection.
    Event(Event),
    /// A peer misbehaved on the wire.
    Fault {
        /// Who.
        peer: Node,
        /// What.
        fault: Fault,
    },
    /// The node's own work failed (a gradient): it ends with this error.
    Failed(String),
}

/// Opens byte streams to addresses: TCP in production, a simulated network in tests.
pub trait Connect: Clone + Send + Sync + 'static {
    /// The stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Connects to `addr`.
    fn connect(&self, addr: String) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Accepts byte streams from peers.
pub trait Accept: Send + 'static {
    /// The stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next stream and the address it came from.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;
}

/// TCP, with Nagle off (frames are written whole).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp;

impl Connect for Tcp {
    type Stream = tokio::net::TcpStream;
    async fn connect(&self, addr: String) -> io::Result<Self::Stream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, String)> {
        let (s, a) = tokio::net::TcpListener::accept(self).await?;
        s.set_nodelay(true)?;
        Ok((s, a.to_string()))
    }
}

/// What both ends of every connection of a node share.
#[derive(Debug, Clone)]
pub struct Local {
    /// The node.
    pub me: Node,
    /// Its TLS.
    pub tls: Tls,
    /// Its hello.
    pub hello: Hello,
    /// Its bounds.
    pub limits: Limits,
}

async fn write_hello<W: AsyncWrite + Unpin>(w: &mut W, hello: &Hello) -> Result<()> {
    let frame = wire::encode(&Frame::Hello(hello.clone()));
    let mut sink = FramedWrite::new(w, codec(HELLO_LIMIT));
    sink.send(bytes(frame)).await.map_err(NetError::Io)
}

async fn read_hello<R: AsyncRead + Unpin>(r: &mut R, deadline: Duration) -> Result<Hello> {
    let mut reader = FramedRead::new(r, codec(HELLO_LIMIT));
    let frame = read_frame(&mut reader, deadline, Some(deadline))
        .await
        .map_err(|e| NetError::Handshake(format!("reading the hello: {e}")))?;
    // A dialler must not send frames before the listener's hello: anything buffered past the
    // hello would be lost, so it is refused.
    if !reader.read_buffer().is_empty() {
        return Err(NetError::Handshake("bytes after the hello".into()));
    }
    match wire::decode(&frame) {
        Ok(Frame::Hello(h)) => Ok(h),
        Ok(_) => Err(NetError::Handshake("a message before the hello".into())),
        Err(e) => Err(NetError::Handshake(format!("the hello: {e}"))),
    }
}

/// Dials `peer` over `stream`: TLS (its certificate must name `peer`), our hello, its hello.
/// Returns the stream, ready for frames.
pub async fn dial<S>(local: &Local, stream: S, peer: Node) -> Result<client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = local.limits;
    let go = async {
        let mut tls = local.tls.connect(stream, peer).await?;
        write_hello(&mut tls, &local.hello).await?;
        let theirs = read_hello(&mut tls, limits.handshake_deadline).await?;
        if theirs.node != id::name(peer) {
            return Err(NetError::Auth(format!(
                "dialled {} but it says it is {:?}",
                id::name(peer),
                theirs.node
            )));
        }
        if let Some(diff) = local.hello.mismatch(&theirs) {
            return Err(NetError::Mismatch(format!(
                "{} trains differently: {diff}",
                id::name(peer)
            )));
        }
        Ok(tls)
    };
    tokio::time::timeout(limits.handshake_deadline, go)
        .await
        .map_err(|_| NetError::Handshake("the handshake took too long".into()))?
}

/// Accepts a dialler over `stream`: TLS (its certificate must chain to the CA), its hello (its
/// certificate must name the node it claims), our hello. Returns who it is and the stream.
pub async fn accept<S>(local: &Local, stream: S) -> Result<(Node, server::TlsStream<S>)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = local.limits;
    let go = async {
        let mut tls = local.tls.accept(stream).await?;
        let theirs = read_hello(&mut tls, limits.handshake_deadline).await?;
        let peer = id::parse(&theirs.node)
            .map_err(|_| NetError::Handshake(format!("bad node name {:?}", theirs.node)))?;
        local.tls.check_peer(&tls, peer)?;
        if peer == local.me {
            return Err(NetError::Auth("a peer with our own identity".into()));
        }
        // Our hello either way, so a mismatched dialler can say what differs.
        write_hello(&mut tls, &local.hello).await?;
        if let Some(diff) = local.hello.mismatch(&theirs) {
            return Err(NetError::Mismatch(format!(
                "{:?} trains differently: {diff}",
                theirs.node
            )));
        }
        Ok((peer, tls))
    };
    tokio::time::timeout(limits.handshake_deadline, go)
        .await
        .map_err(|_| NetError::Handshake("the handshake took too long".into()))?
}

/// Reads frames from an authenticated `peer` until the connection ends, goes silent for three
/// keep-alives, or misbehaves, handing each message to the node and answering each ping. Returns
/// the peer's fault, if it was one.
pub async fn read_messages<S: AsyncRead + AsyncWrite>(
    stream: S,
    peer: Node,
    limits: Limits,
    inputs: &mpsc::Sender<Input>,
) -> Option<Fault> {
    let (rd, wr) = tokio::io::split(stream);
    let mut frames = FramedRead::new(rd, codec(limits.frame_limit));
    let mut pongs = FramedWrite::new(wr, codec(HELLO_LIMIT));
    let silence = limits.keepalive * 3;
    loop {
        let frame = match read_frame(&mut frames, limits.frame_deadline, Some(silence)).await {
            Ok(f) => f,
            Err(FrameError::Closed | FrameError::Idle(_)) => return None,
            // The peer went away between frames (a crash or a restart, with or without TLS's
            // close_notify): not misbehaviour.
            Err(FrameError::Io(e))
                if !frames.decoder().in_frame()
                    && frames.read_buffer().is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                    ) =>
            {
                return None;
            }
            Err(e) => return Some(Fault::Frame(e.to_string())),
        };
        let msg = match wire::decode(&frame) {
            Ok(Frame::Hello(_)) => return Some(Fault::Unexpected),
            Ok(Frame::Ping) => {
                let pong = bytes(wire::encode(&Frame::Ping));
                match tokio::time::timeout(limits.frame_deadline, pongs.send(pong)).await {
                    Ok(Ok(())) => continue,
                    _ => return None,
                }
            }
            Ok(f) => match f.into_message() {
                Ok(m) => m,
                Err(e) => return Some(Fault::Decode(e)),
            },
            Err(e) => return Some(Fault::Decode(e)),
        };
        let event = Event::Received { from: peer, msg };
        if inputs.send(Input::Event(event)).await.is_err() {
            return None;
        }
    }
}

/// The host part of `addr` (`ip` of `ip:port`).
fn source_of(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string()
}

/// A handshake slot: one of the node's, and one of its source's.
struct Handshake {
    _slot: tokio::sync::OwnedSemaphorePermit,
    per_source: Arc<Mutex<HashMap<String, usize>>>,
    source: String,
}

impl Handshake {
    fn take(
        all: &Arc<Semaphore>,
        per_source: &Arc<Mutex<HashMap<String, usize>>>,
        source: &str,
        limits: &Limits,
    ) -> Option<Self> {
        let slot = all.clone().try_acquire_owned().ok()?;
        let mut counts = per_source.lock().expect("not poisoned");
        let n = counts.entry(source.to_string()).or_default();
        if *n >= limits.max_handshakes_per_source {
            return None;
        }
        *n += 1;
        Some(Self {
            _slot: slot,
            per_source: per_source.clone(),
            source: source.to_string(),
        })
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        let mut counts = self.per_source.lock().expect("not poisoned");
        if let Some(n) = counts.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

/// Per peer seen so far: its live connection's number and how to close it (`None`: it has
/// none now).
type LiveConnections = HashMap<Node, Option<(u64, CancellationToken)>>;

/// Serves the connections peers dial to this node: handshakes (capped, with deadlines), one
/// live connection per peer, and their messages into `inputs`. Runs until `inputs` closes.
pub async fn serve<A: Accept>(mut acceptor: A, local: Local, inputs: mpsc::Sender<Input>) {
    let handshakes = Arc::new(Semaphore::new(local.limits.max_handshakes));
    let per_source: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let live: Arc<Mutex<LiveConnections>> = Arc::default();
    let mut next_conn = 0u64;
    loop {
        let (stream, addr) = tokio::select! {
            r = acceptor.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = inputs.closed() => return,
        };
        let source = source_of(&addr);
        let Some(permit) = Handshake::take(&handshakes, &per_source, &source, &local.limits) else {
            tracing::warn!("{addr}: too many connections in the handshake; closed");
            continue;
        };
        next_conn += 1;
        let conn = next_conn;
        let (local, inputs, live) = (local.clone(), inputs.clone(), live.clone());
        tokio::spawn(async move {
            let result = accept(&local, stream).await;
            drop(permit);
            let (peer, stream) = match result {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("{addr}: refused: {e}");
                    return;
                }
            };
            // This connection replaces the peer's previous one, if any; a peer seen before has
            // lost what it had from us, so the node sends it again.
            let token = CancellationToken::new();
            let seen = {
                let mut live = live.lock().expect("not poisoned");
                let old = live.insert(peer, Some((conn, token.clone())));
                if let Some(Some((_, old))) = &old {
                    old.cancel();
                }
                old.is_some()
            };
            if seen {
                let event = Event::Connected { peer };
                if inputs.send(Input::Event(event)).await.is_err() {
                    return;
                }
            }
            let fault = tokio::select! {
                f = read_messages(stream, peer, local.limits, &inputs) => f,
                _ = token.cancelled() => None,
            };
            if let Some(fault) = fault {
                tracing::warn!("{}: {fault:?}; connection closed", id::name(peer));
                let _ = inputs.send(Input::Fault { peer, fault }).await;
            }
            let mut live = live.lock().expect("not poisoned");
            if let Some(entry) = live.get_mut(&peer)
                && entry.as_ref().is_some_and(|(c, _)| *c == conn)
            {
                *entry = None;
            }
        });
    }
}

/// The queue of messages to one peer.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    pending: Arc<AtomicUsize>,
    link: Arc<Mutex<Link>>,
}

/// The dialler's connection: up or not, and since when (`None`: never connected).
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    up: bool,
    since: Option<tokio::time::Instant>,
}

impl Outbox {
    /// Queues `msg`; `false` if the queue is full (the message is dropped).
    pub fn push(&self, msg: Message) -> bool {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.try_send(msg).is_ok() {
            true
        } else {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            false
        }
    }

    /// Messages queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Whether the dialler holds a connection to the peer now.
    pub fn is_up(&self) -> bool {
        self.link().up
    }

    /// Whether it holds a connection, or lost one less than `recent` ago (it may be back within
    /// a backoff).
    pub fn up_within(&self, recent: Duration) -> bool {
        let l = self.link();
        l.up || l.since.is_some_and(|t| t.elapsed() < recent)
    }

    fn link(&self) -> Link {
        *self.link.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Dials `peer` at `addr` and keeps writing it the messages of its [`Outbox`], dialling again
/// with backoff whenever the connection fails; after each reconnection (and after the first
/// connection too when `announce_first`: a node restored from a checkpoint) the node gets
/// [`Event::Connected`]. Ends when the outbox's senders are gone and it is drained.
pub fn spawn_dialler<C: Connect>(
    connect: C,
    local: Local,
    peer: Node,
    addr: String,
    inputs: mpsc::Sender<Input>,
    announce_first: bool,
) -> Outbox {
    let (tx, mut rx) = mpsc::channel::<Message>(local.limits.queue);
    let pending = Arc::new(AtomicUsize::new(0));
    let link = Arc::new(Mutex::new(Link::default()));
    let outbox = Outbox {
        tx,
        pending: pending.clone(),
        link: link.clone(),
    };
    let set_link = move |up: bool| {
        let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
        *l = Link {
            up,
            since: Some(tokio::time::Instant::now()),
        };
    };
    tokio::spawn(async move {
        let limits = local.limits;
        let mut backoff = limits.backoff_min;
        // The first connection is news to the state machine only after a restart.
        let mut first = !announce_first;
        // A message taken from the queue but not yet written survives a reconnection.
        let mut carry: Option<Message> = None;
        let mut failures = 0u64;
        loop {
            let connected =
                tokio::time::timeout(limits.handshake_deadline, connect.connect(addr.clone()));
            let stream = match connected.await {
                Ok(Ok(s)) => dial(&local, s, peer).await,
                Ok(Err(e)) => Err(NetError::Io(e)),
                Err(_) => Err(NetError::Handshake("connecting took too long".into())),
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    failures += 1;
                    if matches!(e, NetError::Mismatch(_) | NetError::Auth(_)) {
                        tracing::error!("{}: {e}", id::name(peer));
                    } else if failures == 1 || failures.is_multiple_of(30) {
                        // An operator sees a peer it cannot reach (a wrong address, a host not
                        // up yet) once, then about once a minute while it lasts.
                        tracing::warn!(
                            "{} at {addr}: {e}; dialling again with backoff ({failures} tries)",
                            id::name(peer)
                        );
                    } else {
                        tracing::debug!("{} at {addr}: {e}", id::name(peer));
                    }
                    if inputs.is_closed() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(limits.backoff_max);
                    continue;
                }
            };
            let since = tokio::time::Instant::now();
            set_link(true);
            if !first {
                let event = Event::Connected { peer };
                if inputs.send(Input::Event(event)).await.is_err() {
                    return;
                }
            }
            first = false;
            failures = 0;
            let (rd, mut wr) = tokio::io::split(stream);
            // The listener answers pings and says nothing else.
            let mut pongs = FramedRead::new(rd, codec(HELLO_LIMIT));
            let mut ping = tokio::time::interval(limits.keepalive);
            ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut heard = tokio::time::Instant::now();
            loop {
                let msg = match carry.take() {
                    Some(m) => m,
                    None => tokio::select! {
                        m = rx.recv() => match m {
                            Some(m) => m,
                            None => {
                                let _ = wr.shutdown().await;
                                return;
                            }
                        },
                        pong = pongs.next() => match pong.map(|p| p.map(|b| wire::decode(&b).map(|f| matches!(f, Frame::Ping)))) {
                            Some(Ok(Ok(true))) => {
                                heard = tokio::time::Instant::now();
                                continue;
                            }
                            // The connection ended, or the listener said something it should not.
                            _ => break,
                        },
                        _ = ping.tick() => {
                            if heard.elapsed() > limits.keepalive * 3 {
                                tracing::debug!("{}: silent; dialling again", id::name(peer));
                                break;
                            }
                            let ping = write_frame(&mut wr, &Frame::Ping, limits.frame_limit);
                            let sent = tokio::time::timeout(limits.frame_deadline, ping);
                            if !matches!(sent.await, Ok(Ok(()))) {
                                break;
                            }
                            continue;
                        }
                    },
                };
                // A peer that stops reading (or a dead path) must not hold the queue forever;
                // a write cut short by the deadline leaves the connection to be dropped.
                let frame = Frame::message(&msg);
                let write = write_frame(&mut wr, &frame, limits.frame_limit);
                let sent = tokio::time::timeout(limits.frame_deadline, write);
                if !matches!(sent.await, Ok(Ok(()))) {
                    carry = Some(msg);
                    break;
                }
                pending.fetch_sub(1, Ordering::SeqCst);
            }
            set_link(false);
            // Dial again after the backoff; it starts over only after a connection that
            // lasted, so a peer that accepts and drops at once cannot make us spin.
            if since.elapsed() >= limits.backoff_max {
                backoff = limits.backoff_min;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(limits.backoff_max);
        }
    });
    outbox
}
