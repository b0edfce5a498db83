//! CIFAR-10 in its official binary format.
//!
//! The directory (extracted from `cifar-10-binary.tar.gz`, so usually named
//! `cifar-10-batches-bin`) holds `data_batch_1.bin` … `data_batch_5.bin` (training) and
//! `test_batch.bin`. Each file is a sequence of 3073-byte records: one label byte `0..=9`, then
//! 3072 pixel bytes, the 32x32 red plane, then green, then blue, each row-major. That is CHW, so
//! records are copied as they are. Official files hold 10,000 records; smaller files of whole
//! records (subsets, test fixtures) load too.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{DatasetError, Result};
use crate::image_set::{ImageSet, Split};

/// Where CIFAR-10 comes from, quoted in every error.
pub const CIFAR10_ORIGIN: &str = "CIFAR-10 binary version from \
    https://www.cs.toronto.edu/~kriz/cifar.html, extract cifar-10-binary.tar.gz";

/// Shape of one CIFAR-10 image: `[3, 32, 32]`.
pub const CIFAR10_SHAPE: [usize; 3] = [3, 32, 32];

/// Number of CIFAR-10 classes.
pub const CIFAR10_CLASSES: usize = 10;

/// Bytes in one record: a label byte and 3x32x32 pixels.
pub const CIFAR10_RECORD_BYTES: usize = 1 + 3 * 32 * 32;

/// Records in an official batch file.
pub const CIFAR10_RECORDS_PER_FILE: usize = 10_000;

/// The training files, in loading order.
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// The test file.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

/// CIFAR-10's class names, indexed by label.
pub const CIFAR10_CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Loads the five training batches (in order) and the test batch from `dir`.
///
/// `dir` is the directory holding the `.bin` files; a directory that holds the extracted
/// `cifar-10-batches-bin` folder works too.
pub fn load_cifar10(dir: impl AsRef<Path>) -> Result<Split> {
    let dir = resolve_dir(dir.as_ref());
    let mut train = load_cifar10_file(dir.join(CIFAR10_TRAIN_FILES[0]))?;
    for name in &CIFAR10_TRAIN_FILES[1..] {
        train.append(load_cifar10_file(dir.join(name))?)?;
    }
    let test = load_cifar10_file(dir.join(CIFAR10_TEST_FILE))?;
    Ok(Split { train, test })
}

/// Loads one CIFAR-10 binary batch file.
///
/// Refuses, naming the file: a missing file, an empty one, a size that is not a whole number of
/// 3073-byte records, and a label above 9 (naming the record).
pub fn load_cifar10_file(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    let expected = || {
        format!(
            "a CIFAR-10 binary batch of {CIFAR10_RECORD_BYTES}-byte records \
             ({CIFAR10_RECORDS_PER_FILE} records, {} bytes, in an official file)",
            CIFAR10_RECORD_BYTES * CIFAR10_RECORDS_PER_FILE
        )
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DatasetError::Missing {
                path: path.to_path_buf(),
                expected: expected(),
                origin: CIFAR10_ORIGIN,
            });
        }
        Err(source) => {
            return Err(DatasetError::Read {
                path: path.to_path_buf(),
                source,
                origin: CIFAR10_ORIGIN,
            });
        }
    };
    if bytes.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
            expected: expected(),
            origin: CIFAR10_ORIGIN,
        });
    }
    if !bytes.len().is_multiple_of(CIFAR10_RECORD_BYTES) {
        return Err(DatasetError::NotWholeRecords {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record_size: CIFAR10_RECORD_BYTES as u64,
            origin: CIFAR10_ORIGIN,
        });
    }
    parse_records(path, &bytes)
}

/// Splits whole records into labels and pixels, checking each label.
fn parse_records(path: &Path, bytes: &[u8]) -> Result<ImageSet> {
    let records = bytes.len() / CIFAR10_RECORD_BYTES;
    let mut labels = Vec::with_capacity(records);
    let mut pixels = Vec::with_capacity(records * (CIFAR10_RECORD_BYTES - 1));
    for (record, chunk) in bytes.chunks_exact(CIFAR10_RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if usize::from(label) >= CIFAR10_CLASSES {
            return Err(DatasetError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                label,
                classes: CIFAR10_CLASSES,
                origin: CIFAR10_ORIGIN,
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&chunk[1..]);
    }
    ImageSet::new(pixels, labels, CIFAR10_SHAPE, CIFAR10_CLASSES)
}

/// `dir`, or its `cifar-10-batches-bin` subfolder when the files are there instead.
fn resolve_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("cifar-10-batches-bin");
    if !dir.join(CIFAR10_TRAIN_FILES[0]).exists() && nested.join(CIFAR10_TRAIN_FILES[0]).exists() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Encodes `set` as CIFAR-10 binary records (label byte, then CHW pixels), the inverse of
/// [`load_cifar10_file`]; for fixtures and for exporting a subset.
///
/// `set` must have CIFAR-10's `[3, 32, 32]` shape and at most 10 classes.
pub fn encode_cifar10(set: &ImageSet) -> Result<Vec<u8>> {
    if set.shape() != CIFAR10_SHAPE || set.num_classes() > CIFAR10_CLASSES {
        return Err(DatasetError::Invalid(format!(
            "CIFAR-10 records hold [3, 32, 32] images of at most 10 classes, not {:?} images \
             of {} classes",
            set.shape(),
            set.num_classes()
        )));
    }
    let mut bytes = Vec::with_capacity(set.len() * CIFAR10_RECORD_BYTES);
    for i in 0..set.len() {
        bytes.push(set.label(i));
        bytes.extend_from_slice(set.image(i));
    }
    Ok(bytes)
}
