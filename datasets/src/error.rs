//! The crate's one error type.
//!
//! Every error about a file names the file, says what was expected and where the data set comes
//! from, so that a user who pointed at the wrong directory, or has a truncated download, knows
//! what to fetch.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong loading, generating, sharding or batching a data set.
#[derive(Debug, Error)]
pub enum DatasetError {
    /// A data file is not there.
    #[error("{}: file not found; expected {expected}. Data set: {origin}", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
        /// What the file should hold.
        expected: String,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// The default directory of an OS-packaged data set does not exist.
    #[error(
        "{}: no such directory; the data set is not installed: install it with \
         `apt-get install {package}`, or pass the directory that holds its files",
        path.display()
    )]
    NotInstalled {
        /// The default directory.
        path: PathBuf,
        /// The Debian package that installs it.
        package: &'static str,
    },
    /// A data file could not be read or decompressed.
    #[error("{}: cannot read: {source}. Data set: {origin}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O or gzip error.
        source: std::io::Error,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// A file could not be written (exporting a data set).
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A data file is empty.
    #[error("{}: empty file; expected {expected}. Data set: {origin}", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: String,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// A record file's size is not a whole number of records.
    #[error(
        "{}: {size} bytes is not a whole number of {record_size}-byte records \
         (expected a multiple of {record_size} bytes; an official file has {official} bytes). \
         Data set: {origin}",
        path.display(),
        official = record_size * 10_000
    )]
    NotWholeRecords {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size of one record in bytes.
        record_size: u64,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// A file's length disagrees with the sizes its header declares.
    #[error(
        "{}: {} ({actual} bytes, expected {expected} bytes: {layout}). Data set: {origin}",
        path.display(),
        if actual < expected { "truncated" } else { "trailing data" }
    )]
    BadLength {
        /// The file (after decompression, for a gzipped file).
        path: PathBuf,
        /// Its length in bytes.
        actual: u64,
        /// The length its header (or format) implies.
        expected: u64,
        /// How `expected` was computed, e.g. the header's dimensions.
        layout: String,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// An IDX file starts with the wrong magic number.
    #[error(
        "{}: magic number {found:#010x}, expected {expected:#010x} ({what}). Data set: {origin}",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// What the file should be, e.g. "IDX unsigned-byte images, 3 dimensions".
        what: &'static str,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// A label is outside `0..classes`.
    #[error(
        "{}: record {record} has label {label}, expected 0..={max}. Data set: {origin}",
        path.display(),
        max = classes - 1
    )]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Index of the offending record (0-based).
        record: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// An images file and its labels file hold different numbers of items.
    #[error(
        "{} holds {images} images but {} holds {labels} labels; expected equal counts. \
         Data set: {origin}",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Number of images it declares.
        images: usize,
        /// The labels file.
        labels_path: PathBuf,
        /// Number of labels it declares.
        labels: usize,
        /// Where the data set comes from.
        origin: &'static str,
    },
    /// An in-memory image set or normalisation is inconsistent.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// Sharding over zero workers.
    #[error("cannot shard over 0 workers: need at least 1")]
    NoWorkers,
    /// A Dirichlet concentration that is not a positive finite number.
    #[error("Dirichlet alpha must be a positive finite number, got {alpha}")]
    InvalidAlpha {
        /// The value given.
        alpha: f64,
    },
    /// A batch size of zero.
    #[error("batch size must be at least 1, got 0")]
    ZeroBatchSize,
}

/// Result with the crate's [`DatasetError`].
pub type Result<T> = std::result::Result<T, DatasetError>;
