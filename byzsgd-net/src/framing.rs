//! Frames on a byte stream: `LengthDelimitedCodec` (4-byte big-endian length, then the frame)
//! with a maximum set on both ends. A length prefix over the maximum is refused as soon as the
//! prefix is read, before anything is reserved for the frame; a frame within it has its length
//! reserved once its prefix arrived, so a connection holds at most one frame limit. A peer whose
//! frame has started (from its first prefix byte) but not finished within the frame deadline is
//! cut off ([`read_frame`]), and a stream that ends inside a frame is an error, not a close.
//!
//! Protocol messages are written by [`write_frame`], not the codec's encoder: the same bytes,
//! but the vector goes from the message's memory straight to the stream (the encoder would copy
//! the whole frame into its buffer first). What a message costs on the wire, and the floor that
//! sets on a loopback cluster, is in BENCHMARKS.md (`byzsgd bench wire`).

use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder, FramedRead, LengthDelimitedCodec};

use crate::wire::{Frame, encode_parts};

/// `LengthDelimitedCodec` that knows whether a frame is under way: the inner codec consumes a
/// frame's prefix before its body arrives, so an empty read buffer does not mean "between
/// frames".
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    in_frame: bool,
}

impl FrameCodec {
    /// Whether some of a frame has arrived but not all of it.
    pub fn in_frame(&self) -> bool {
        self.in_frame
    }
}

/// A codec for frames of at most `limit` bytes.
pub fn codec(limit: usize) -> FrameCodec {
    FrameCodec {
        inner: LengthDelimitedCodec::builder()
            .length_field_length(4)
            .max_frame_length(limit)
            .new_codec(),
        in_frame: false,
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        let before = src.len();
        let frame = self.inner.decode(src)?;
        self.in_frame = match &frame {
            // What is left belongs to the next frame.
            Some(_) => !src.is_empty(),
            None => self.in_frame || before > 0,
        };
        Ok(frame)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        match self.decode(src)? {
            Some(f) => Ok(Some(f)),
            None if self.in_frame => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a frame",
            )),
            None => Ok(None),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        self.inner.encode(frame, dst)
    }
}

/// Why no frame came.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended between frames.
    #[error("the connection closed")]
    Closed,
    /// The stream ended, or failed, inside a frame, or announced one over the limit.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A frame started but did not finish within the deadline (a slow or stalled sender).
    #[error("a frame started but did not finish within {0:?}")]
    Deadline(Duration),
    /// No frame started within the idle deadline (the peer, or the path to it, is gone).
    #[error("nothing for {0:?}")]
    Idle(Duration),
}

/// How often a reader looks at a frame in progress (the deadline's resolution).
const TICK: Duration = Duration::from_millis(100);

/// The next frame from `reader`. Between frames it waits at most `idle` (none: for ever); once a
/// frame's first byte has arrived, the rest must follow within `deadline`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, FrameCodec>,
    deadline: Duration,
    idle: Option<Duration>,
) -> Result<BytesMut, FrameError> {
    let mut started: Option<Instant> = None;
    let mut waiting = Instant::now();
    loop {
        if reader.decoder().in_frame() || !reader.read_buffer().is_empty() {
            let t = *started.get_or_insert_with(Instant::now);
            if t.elapsed() > deadline {
                return Err(FrameError::Deadline(deadline));
            }
        } else {
            if started.take().is_some() {
                waiting = Instant::now();
            }
            if let Some(idle) = idle
                && waiting.elapsed() > idle
            {
                return Err(FrameError::Idle(idle));
            }
        }
        // `next` is cancel-safe: what it read stays in the reader's buffer and codec.
        tokio::select! {
            frame = reader.next() => return match frame {
                Some(Ok(f)) => Ok(f),
                Some(Err(e)) => Err(FrameError::Io(e)),
                None => Err(FrameError::Closed),
            },
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Writes `frame` as the codec frames it (its 4-byte big-endian length, then its bytes) and
/// flushes. Its head and its vector go out in one vectored write, the vector straight from the
/// message's memory: the codec's encoder would first copy the whole frame into its buffer, and
/// a joined encoding would copy the vector once more, for each recipient of a broadcast. A
/// frame over `limit` is refused, as the codec's encoder refuses it. Not cancel-safe: a write
/// cut short leaves part of a frame on the stream, so its connection must be dropped.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame<'_>,
    limit: usize,
) -> io::Result<()> {
    let (head, blob) = encode_parts(frame);
    let len = head.len() + blob.len();
    let prefix = u32::try_from(len)
        .ok()
        .filter(|_| len <= limit)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame of {len} bytes is over the limit of {limit}"),
            )
        })?;
    let mut first = Vec::with_capacity(4 + head.len());
    first.extend_from_slice(&prefix.to_be_bytes());
    first.extend_from_slice(&head);
    let mut parts = [IoSlice::new(&first), IoSlice::new(blob)];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        let n = w.write_vectored(parts).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    w.flush().await
}

/// A frame's bytes for the codec's encoder.
pub fn bytes(frame: Vec<u8>) -> Bytes {
    Bytes::from(frame)
}
