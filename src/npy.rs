//! NumPy `.npy` files of little-endian f32 (`'<f4'`): the CLI's input and output format.
//!
//! Reads format versions 1.0, 2.0 and 3.0 (C order only); writes version 1.0 with the header padded
//! so the data starts on a 64-byte boundary, as NumPy does. Written files appear atomically: the
//! data goes to a temporary file in the same directory, renamed into place once complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Everything that can be wrong with an `.npy` file.
#[derive(Debug, Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The file does not start with the `\x93NUMPY` magic string.
    #[error("not a NumPy .npy file (bad magic string)")]
    NotNpy,
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header is cut short or is not the expected Python dict literal.
    #[error("malformed .npy header: {0}")]
    MalformedHeader(String),
    /// The array's dtype is not little-endian f32.
    #[error("unsupported dtype '{found}': f32 ('<f4', little-endian) is required")]
    WrongDtype {
        /// The dtype descriptor found in the header, e.g. `<f8`.
        found: String,
    },
    /// The array is stored in Fortran (column-major) order.
    #[error("array is stored in Fortran order; C order (fortran_order False) is required")]
    FortranOrder,
    /// The array's shape is not the one required.
    #[error("array of shape {found:?} is not {expected}")]
    WrongShape {
        /// The shape found in the header.
        found: Vec<usize>,
        /// What was required, in words.
        expected: &'static str,
    },
    /// Fewer data bytes than the shape requires.
    #[error("truncated data: shape needs {expected} bytes, found {found}")]
    Truncated {
        /// Bytes the shape requires.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// More data bytes than the shape requires.
    #[error("trailing bytes: shape needs {expected} bytes, found {found}")]
    TrailingBytes {
        /// Bytes the shape requires.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
}

/// Reads an `[n, d]` f32 matrix (`n, d >= 1`), row-major, and its shape.
pub fn read_f32_matrix(path: impl AsRef<Path>) -> Result<(Vec<f32>, [usize; 2]), NpyError> {
    let (data, shape) = read_f32_array(path)?;
    match shape[..] {
        [n, d] if n >= 1 && d >= 1 => Ok((data, [n, d])),
        _ => Err(NpyError::WrongShape {
            found: shape,
            expected: "a non-empty [n, d] matrix (rank 2, n, d >= 1)",
        }),
    }
}

/// Reads an f32 array of any shape, C order, with its shape.
pub fn read_f32_array(path: impl AsRef<Path>) -> Result<(Vec<f32>, Vec<usize>), NpyError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| NpyError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    decode_f32(&bytes)
}

/// Decodes the bytes of an f32 `.npy` file into its values and shape.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>), NpyError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(NpyError::NotNpy);
    }
    let short = || {
        NpyError::MalformedHeader(format!(
            "file ends inside the header ({} bytes)",
            bytes.len()
        ))
    };
    let (major, minor) = (
        *bytes.get(6).ok_or_else(short)?,
        *bytes.get(7).ok_or_else(short)?,
    );
    let (len_bytes, header_start) = match (major, minor) {
        (1, 0) => (2, 10),
        (2, 0) | (3, 0) => (4, 12),
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let len_field = bytes.get(8..8 + len_bytes).ok_or_else(short)?;
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    let data_start = header_start + header_len;
    let header = bytes.get(header_start..data_start).ok_or_else(short)?;
    let header = if major == 3 {
        std::str::from_utf8(header)
            .map_err(|_| NpyError::MalformedHeader("header is not UTF-8".into()))?
            .to_string()
    } else {
        header.iter().map(|&b| b as char).collect() // latin-1
    };
    let (descr, fortran, shape) = parse_header(&header)?;
    if descr != "<f4" {
        return Err(NpyError::WrongDtype { found: descr });
    }
    if fortran {
        return Err(NpyError::FortranOrder);
    }
    let too_big = || NpyError::MalformedHeader(format!("shape {shape:?} is too large"));
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &x| acc.checked_mul(x))
        .ok_or_else(too_big)?;
    let expected = count.checked_mul(4).ok_or_else(too_big)?;
    let found = bytes.len() - data_start;
    if found < expected {
        return Err(NpyError::Truncated { expected, found });
    }
    if found > expected {
        return Err(NpyError::TrailingBytes { expected, found });
    }
    let data = bytes[data_start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((data, shape))
}

/// Parses the header dict `{'descr': ..., 'fortran_order': ..., 'shape': (...), }`.
fn parse_header(header: &str) -> Result<(String, bool, Vec<usize>), NpyError> {
    let bad = |why: &str| NpyError::MalformedHeader(format!("{why} in {:?}", header.trim_end()));
    let body = header
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| bad("no dict"))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) = quoted(rest).ok_or_else(|| bad("expected a quoted key"))?;
        let after = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':'"))?
            .trim_start();
        rest = match key {
            "descr" => {
                let (value, after) = quoted(after).ok_or_else(|| bad("descr is not a string"))?;
                descr = Some(value.to_string());
                after
            }
            "fortran_order" => {
                let (value, after) = if let Some(a) = after.strip_prefix("True") {
                    (true, a)
                } else {
                    (
                        false,
                        after
                            .strip_prefix("False")
                            .ok_or_else(|| bad("fortran_order is not True/False"))?,
                    )
                };
                fortran = Some(value);
                after
            }
            "shape" => {
                let inner = after
                    .strip_prefix('(')
                    .ok_or_else(|| bad("shape is not a tuple"))?;
                let close = inner.find(')').ok_or_else(|| bad("unclosed shape tuple"))?;
                let dims = inner[..close]
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                let dims = dims.map(|s| s.parse::<usize>().map_err(|_| bad("bad shape entry")));
                shape = Some(dims.collect::<Result<Vec<_>, _>>()?);
                &inner[close + 1..]
            }
            _ => return Err(bad(&format!("unknown key {key:?}"))),
        }
        .trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(bad("expected ','")),
        }
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err(bad("missing descr, fortran_order or shape")),
    }
}

/// A single- or double-quoted string at the start of `s`, and what follows it.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let end = s[1..].find(q)? + 1;
    Some((&s[1..end], &s[end + 1..]))
}

/// Encodes a 1-D f32 array of length `values.len()` as a version 1.0 `.npy` file.
pub fn encode_f32_vector(values: &[f32]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * values.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    values
        .iter()
        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

/// Writes `values` as a `[d]` f32 `.npy` file (version 1.0), atomically: nothing appears at
/// `path` unless the whole file was written.
pub fn write_f32_vector(path: impl AsRef<Path>, values: &[f32]) -> Result<(), NpyError> {
    let path = path.as_ref();
    let io = |error| NpyError::Io {
        path: path.to_path_buf(),
        error,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("not a file name")))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&encode_f32_vector(values))?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

#[cfg(test)]
#[path = "npy_tests.rs"]
mod tests;
