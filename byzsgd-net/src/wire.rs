//! What travels in a frame, and its strict encoding.
//!
//! A frame holds one [`Frame`]: the handshake's [`Hello`] or a protocol [`Message`]. It is
//! postcard, except that vectors travel as one raw little-endian `f32` byte blob (postcard would
//! encode a `Vec<f32>` element by element, slowly): encoding is one copy of the vector, decoding
//! one copy back. Decoding is strict: `postcard::from_bytes` ignores trailing bytes, so
//! [`decode`] uses `take_from_bytes` and refuses a non-empty remainder, and a blob whose length
//! is not a multiple of 4 is refused. The dimension, finiteness and step of what decodes are the
//! core's to check ([`byzsgd_core::protocol`]); the frame limit ([`frame_limit`]) bounds the
//! length before any allocation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use byzsgd_core::protocol::Message;
use serde::{Deserialize, Serialize};

/// The wire protocol's version: a node refuses a peer that speaks another.
pub const PROTOCOL_VERSION: u32 = 1;

/// Bytes of a frame around its vector (tag, step, flags, blob length), with room to spare.
const HEADER_ROOM: usize = 64;

/// The largest frame a node accepts once the handshake is over, for models of `dim` parameters:
/// one vector and its header. Both ends set it, so a frame over it is refused before allocation.
pub fn frame_limit(dim: usize) -> usize {
    dim.saturating_mul(4).saturating_add(HEADER_ROOM)
}

/// The largest handshake frame: a [`Hello`] is a few hundred bytes.
pub const HELLO_LIMIT: usize = 64 * 1024;

/// The handshake: who the sender says it is and what it trains. Its identity claim is checked
/// against its certificate; everything else against the receiver's own [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The cluster's name.
    pub cluster: String,
    /// The sender's node name (`s3`, `w0`).
    pub node: String,
    /// The model dimension.
    pub dim: u64,
    /// The resolved training configuration, key by key (so a mismatch names its key).
    pub settings: BTreeMap<String, String>,
    /// [`model_hash`](byzsgd_core::node::model_hash) of the initial model.
    pub init_hash: u64,
}

impl Hello {
    /// Why `peer`'s hello does not match this one (`None`: it does). Names every setting that
    /// differs, with both values.
    pub fn mismatch(&self, peer: &Hello) -> Option<String> {
        let mut diffs = Vec::new();
        if self.version != peer.version {
            diffs.push(format!(
                "protocol version: ours {}, theirs {}",
                self.version, peer.version
            ));
        }
        if self.cluster != peer.cluster {
            let theirs: String = peer.cluster.chars().take(200).collect();
            diffs.push(format!(
                "cluster: ours {:?}, theirs {theirs:?}",
                self.cluster
            ));
        }
        if self.dim != peer.dim {
            diffs.push(format!(
                "model dimension: ours {}, theirs {}",
                self.dim, peer.dim
            ));
        }
        let keys: std::collections::BTreeSet<&String> =
            self.settings.keys().chain(peer.settings.keys()).collect();
        for k in keys {
            let (a, b) = (self.settings.get(k), peer.settings.get(k));
            if a != b {
                // Their values are a peer's words: printed escaped, and bounded.
                let show = |v: Option<&String>| {
                    v.map_or("(unset)".to_string(), |v| {
                        let v: String = v.chars().take(200).collect();
                        v.escape_debug().to_string()
                    })
                };
                let k: String = k
                    .chars()
                    .take(100)
                    .collect::<String>()
                    .escape_debug()
                    .to_string();
                diffs.push(format!("{k}: ours {}, theirs {}", show(a), show(b)));
            }
        }
        if self.init_hash != peer.init_hash && diffs.is_empty() {
            diffs.push(format!(
                "initial model: ours {:016x}, theirs {:016x}",
                self.init_hash, peer.init_hash
            ));
        }
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

/// A frame's contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame<'a> {
    /// The handshake.
    Hello(Hello),
    /// [`Message::Model`].
    Model {
        /// Its step.
        step: u64,
        /// The vector, raw little-endian f32.
        #[serde(borrow, with = "serde_bytes")]
        params: Cow<'a, [u8]>,
    },
    /// [`Message::Pull`].
    Pull {
        /// Its step.
        step: u64,
    },
    /// [`Message::CatchUp`].
    CatchUp {
        /// Its step.
        step: u64,
    },
    /// [`Message::State`].
    State {
        /// Its step.
        step: u64,
        /// Whether the replica waits for the gather.
        gathering: bool,
        /// The vector, raw little-endian f32.
        #[serde(borrow, with = "serde_bytes")]
        params: Cow<'a, [u8]>,
    },
    /// [`Message::Gradient`].
    Gradient {
        /// Its step.
        step: u64,
        /// The vector, raw little-endian f32.
        #[serde(borrow, with = "serde_bytes")]
        grad: Cow<'a, [u8]>,
    },
    /// Keep-alive: a dialler sends one every [`keepalive`](crate::transport::Limits::keepalive),
    /// the listener answers each with one. Not a protocol message.
    Ping,
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// postcard refused them.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A valid frame followed by more bytes.
    #[error("{0} bytes after the frame")]
    Trailing(usize),
    /// A vector blob whose length is not a multiple of 4.
    #[error("a vector of {0} bytes is not whole f32s")]
    Ragged(usize),
    /// A handshake where a message was due, or the reverse.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
}

/// The little-endian bytes of `v`: borrowed on little-endian machines.
fn le_bytes(v: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(v))
    } else {
        Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

fn floats(b: &[u8]) -> Result<Arc<Vec<f32>>, DecodeError> {
    if !b.len().is_multiple_of(4) {
        return Err(DecodeError::Ragged(b.len()));
    }
    let n = b.len() / 4;
    if cfg!(target_endian = "big") {
        return Ok(Arc::new(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ));
    }
    // One copy into uninitialised memory, as `to_vec` does (zeroing first, or an element-wise
    // loop, made decoding 1.3 to 1.6 memcpys; `byzsgd bench wire`).
    let mut v: Vec<f32> = Vec::with_capacity(n);
    // SAFETY: `v` has room for `n` f32s, that is `b.len()` bytes; the regions do not overlap;
    // every bit pattern is a valid f32, and on a little-endian machine these bytes are the
    // f32s in order, so after the copy the first `n` elements are initialised.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), v.as_mut_ptr().cast::<u8>(), b.len());
        v.set_len(n);
    }
    Ok(Arc::new(v))
}

impl<'a> Frame<'a> {
    /// The frame carrying `msg`, borrowing its vector.
    pub fn message(msg: &'a Message) -> Self {
        match msg {
            Message::Model { step, params } => Frame::Model {
                step: *step,
                params: le_bytes(params),
            },
            Message::Pull { step } => Frame::Pull { step: *step },
            Message::CatchUp { step } => Frame::CatchUp { step: *step },
            Message::State {
                step,
                gathering,
                params,
            } => Frame::State {
                step: *step,
                gathering: *gathering,
                params: le_bytes(params),
            },
            Message::Gradient { step, grad } => Frame::Gradient {
                step: *step,
                grad: le_bytes(grad),
            },
        }
    }

    /// The protocol message it carries (a copy of its vector), or an error for a handshake.
    pub fn into_message(self) -> Result<Message, DecodeError> {
        Ok(match self {
            Frame::Hello(_) => return Err(DecodeError::Unexpected("handshake")),
            Frame::Ping => return Err(DecodeError::Unexpected("keep-alive")),
            Frame::Model { step, params } => Message::Model {
                step,
                params: floats(&params)?,
            },
            Frame::Pull { step } => Message::Pull { step },
            Frame::CatchUp { step } => Message::CatchUp { step },
            Frame::State {
                step,
                gathering,
                params,
            } => Message::State {
                step,
                gathering,
                params: floats(&params)?,
            },
            Frame::Gradient { step, grad } => Message::Gradient {
                step,
                grad: floats(&grad)?,
            },
        })
    }
}

/// Encodes `frame` into a new buffer of exactly its size: [`encode_parts`] joined.
pub fn encode(frame: &Frame<'_>) -> Vec<u8> {
    let (mut head, blob) = encode_parts(frame);
    head.extend_from_slice(blob);
    head
}

/// `frame`'s encoding in two parts: a short head, then its vector's bytes, borrowed from the
/// frame (empty for a frame without a vector). A writer sends the two back to back without
/// joining them ([`crate::framing::write_frame`]): a broadcast vector is never copied per
/// recipient on our side.
///
/// A vector is the last field of its frame, and postcard writes a byte string as its varint
/// length then its bytes: so the head is the frame encoded with an empty vector (whose length,
/// 0, is its last byte) with that byte replaced by the real length. The same bytes as
/// postcard's, which the tests check.
pub fn encode_parts<'f>(frame: &'f Frame<'_>) -> (Vec<u8>, &'f [u8]) {
    // Serialising into memory fails only on allocation failure.
    let plain = |f: &Frame<'_>| postcard::to_stdvec(f).expect("encoding into memory");
    let empty = Cow::Borrowed(&[][..]);
    let (head, blob) = match frame {
        Frame::Hello(_) | Frame::Pull { .. } | Frame::CatchUp { .. } | Frame::Ping => {
            return (plain(frame), &[]);
        }
        Frame::Model { step, params } => (
            plain(&Frame::Model {
                step: *step,
                params: empty,
            }),
            params,
        ),
        Frame::State {
            step,
            gathering,
            params,
        } => (
            plain(&Frame::State {
                step: *step,
                gathering: *gathering,
                params: empty,
            }),
            params,
        ),
        Frame::Gradient { step, grad } => (
            plain(&Frame::Gradient {
                step: *step,
                grad: empty,
            }),
            grad,
        ),
    };
    let mut out = Vec::with_capacity(head.len() + 10);
    out.extend_from_slice(&head[..head.len() - 1]);
    let mut n = blob.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    (out, blob)
}

/// Decodes one frame strictly: the whole of `bytes` and nothing more.
pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let (frame, rest) = postcard::take_from_bytes::<Frame<'_>>(bytes)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    if let Frame::Model { params: v, .. }
    | Frame::State { params: v, .. }
    | Frame::Gradient { grad: v, .. } = &frame
        && !v.len().is_multiple_of(4)
    {
        return Err(DecodeError::Ragged(v.len()));
    }
    Ok(frame)
}

/// Decodes a protocol message (not a handshake).
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode(bytes)?.into_message()
}

/// Encodes a protocol message.
pub fn encode_message(msg: &Message) -> Vec<u8> {
    encode(&Frame::message(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_and_ragged_vectors_are_refused() {
        let msg = Message::Gradient {
            step: 7,
            grad: Arc::new(vec![1.0, -2.5, f32::MIN_POSITIVE]),
        };
        let mut bytes = encode_message(&msg);
        assert_eq!(decode_message(&bytes).unwrap(), msg);
        bytes.push(0);
        assert_eq!(decode_message(&bytes), Err(DecodeError::Trailing(1)));
        // A blob of 5 bytes: tag 5 (Gradient), step 7, length 5.
        let ragged = [5u8, 7, 5, 0, 0, 0, 0, 0];
        assert_eq!(decode_message(&ragged), Err(DecodeError::Ragged(5)));
    }

    #[test]
    fn the_fast_encoding_is_postcards() {
        for d in [0usize, 1, 31, 32, 33, 5000, 70_000] {
            let v = Arc::new((0..d).map(|i| i as f32 - 0.5).collect::<Vec<f32>>());
            for msg in [
                Message::Model {
                    step: 3,
                    params: v.clone(),
                },
                Message::State {
                    step: u64::MAX,
                    gathering: true,
                    params: v.clone(),
                },
                Message::Gradient {
                    step: 300,
                    grad: v.clone(),
                },
                Message::Pull { step: 9 },
            ] {
                let f = Frame::message(&msg);
                assert_eq!(encode(&f), postcard::to_stdvec(&f).unwrap(), "{d}");
            }
        }
    }

    #[test]
    fn a_vector_travels_as_its_raw_bytes() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let msg = Message::Model {
            step: 1,
            params: Arc::new(v),
        };
        let bytes = encode_message(&msg);
        // Tag, step, a 2-byte varint length, then 4000 bytes.
        assert_eq!(bytes.len(), 1 + 1 + 2 + 4000);
        assert!(bytes.len() <= frame_limit(1000));
    }
}
