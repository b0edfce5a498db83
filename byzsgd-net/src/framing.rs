//! Frames on a byte stream: `LengthDelimitedCodec` (4-byte big-endian length, then the frame)
//! with a maximum set on both ends. A length prefix over the maximum is refused as soon as the
//! prefix is read, before anything is allocated for the frame; a peer whose frame has started
//! but not finished within the frame deadline is cut off ([`read_frame`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// A codec for frames of at most `limit` bytes.
pub fn codec(limit: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(limit)
        .new_codec()
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
}

/// How often a reader looks at a frame in progress (the deadline's resolution).
const TICK: Duration = Duration::from_millis(100);

/// The next frame from `reader`. Waiting between frames has no deadline (an idle peer is fine);
/// once a frame's first byte has arrived, the rest must follow within `deadline`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, LengthDelimitedCodec>,
    deadline: Duration,
) -> Result<BytesMut, FrameError> {
    let mut started: Option<Instant> = None;
    loop {
        if reader.read_buffer().is_empty() {
            started = None;
        } else {
            let t = *started.get_or_insert_with(Instant::now);
            if t.elapsed() > deadline {
                return Err(FrameError::Deadline(deadline));
            }
        }
        // `next` is cancel-safe: what it read stays in the reader's buffer.
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

/// A frame's bytes for the codec's encoder.
pub fn bytes(frame: Vec<u8>) -> Bytes {
    Bytes::from(frame)
}
