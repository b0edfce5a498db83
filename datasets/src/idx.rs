//! The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.
//!
//! An IDX file is a big-endian header, the magic number `0x0000TTNN` (`TT = 0x08` for unsigned
//! bytes, `NN` the number of dimensions), one `u32` per dimension, then the data, row-major.
//! Images files have three dimensions (count, rows, columns: magic `0x00000803`), labels files
//! one (count: magic `0x00000801`). The file's length must be exactly what the header declares:
//! a truncated file and trailing data are both refused.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{DatasetError, Result};

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;

/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The images of one IDX images file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Reads a file whole, decompressing it when its name ends in `.gz`.
///
/// A missing file is [`DatasetError::Missing`] (with `expected` as given), anything else that
/// fails is [`DatasetError::Read`].
pub fn read_maybe_gz(path: &Path, expected: &str, origin: &'static str) -> Result<Vec<u8>> {
    let read_error = |source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
        origin,
    };
    let raw = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DatasetError::Missing {
                path: path.to_path_buf(),
                expected: expected.to_string(),
                origin,
            }
        } else {
            read_error(source)
        }
    })?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(read_error)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else `None`.
pub fn find_plain_or_gz(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [plain, gz].into_iter().find(|p| p.is_file())
}

/// Parses an IDX images file (`path` only names it in errors).
pub fn parse_idx_images(path: &Path, bytes: &[u8], origin: &'static str) -> Result<IdxImages> {
    let what = "IDX unsigned-byte images, 3 dimensions";
    let dims = parse_header(path, bytes, IDX_IMAGES_MAGIC, what, origin)?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes[header_len(3)..].to_vec(),
    })
}

/// Parses an IDX labels file (`path` only names it in errors); labels are not range-checked.
pub fn parse_idx_labels(path: &Path, bytes: &[u8], origin: &'static str) -> Result<Vec<u8>> {
    let what = "IDX unsigned-byte labels, 1 dimension";
    parse_header(path, bytes, IDX_LABELS_MAGIC, what, origin)?;
    Ok(bytes[header_len(1)..].to_vec())
}

/// Checks the magic number and that the length is exactly the declared one; returns the dims.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    what: &'static str,
    origin: &'static str,
) -> Result<Vec<usize>> {
    let ndims = usize::from((magic & 0xff) as u8);
    let header = header_len(ndims);
    let bad_length = |expected: u64, layout: String| DatasetError::BadLength {
        path: path.to_path_buf(),
        actual: bytes.len() as u64,
        expected,
        layout,
        origin,
    };
    if bytes.len() < 4 {
        return Err(bad_length(
            header as u64,
            format!("at least the {header}-byte header of {what}"),
        ));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DatasetError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
            origin,
        });
    }
    if bytes.len() < header {
        return Err(bad_length(
            header as u64,
            format!("at least the {header}-byte header of {what}"),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| be_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    let data: u64 = dims.iter().map(|&d| d as u64).product();
    let expected = header as u64 + data;
    if bytes.len() as u64 != expected {
        let dims_text: Vec<String> = dims.iter().map(usize::to_string).collect();
        return Err(bad_length(
            expected,
            format!(
                "{header}-byte header + {} data bytes for dimensions {}",
                data,
                dims_text.join("x")
            ),
        ));
    }
    Ok(dims)
}

/// Header bytes for `ndims` dimensions.
fn header_len(ndims: usize) -> usize {
    4 + 4 * ndims
}

/// The big-endian `u32` at `at`.
fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Encodes images as an IDX images file (magic `0x00000803`), the inverse of
/// [`parse_idx_images`].
///
/// # Panics
/// If `rows * cols` is zero or `pixels` is not a whole number of `rows * cols` images.
pub fn encode_idx_images(pixels: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    assert!(rows * cols > 0 && pixels.len().is_multiple_of(rows * cols));
    let count = pixels.len() / (rows * cols);
    let mut out = Vec::with_capacity(header_len(3) + pixels.len());
    for word in [IDX_IMAGES_MAGIC, count as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX labels file (magic `0x00000801`), the inverse of
/// [`parse_idx_labels`].
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(1) + labels.len());
    out.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
