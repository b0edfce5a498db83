//! Writing a [`Split`] in the official on-disk formats, so that the loaders can be exercised
//! end to end on small generated data (fixtures for tests, subsets for quick runs).

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::cifar10::{CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, encode_cifar10};
use crate::error::{DatasetError, Result};
use crate::idx::{encode_idx_images, encode_idx_labels};
use crate::image_set::Split;
use crate::mnist::MNIST_FILES;

/// Writes `split` into `dir` (created if needed) as CIFAR-10 binary files: the training images
/// spread in order over `data_batch_1.bin` … `data_batch_5.bin` (sizes differing by at most
/// one record), the test images in `test_batch.bin`.
///
/// Needs `[3, 32, 32]` images of at most 10 classes, at least 5 training images (no file may
/// be empty) and at least one test image.
pub fn write_cifar10_dir(dir: impl AsRef<Path>, split: &Split) -> Result<()> {
    let dir = dir.as_ref();
    let files = CIFAR10_TRAIN_FILES.len();
    if split.train.len() < files || split.test.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "CIFAR-10 files need at least {files} training images and 1 test image, \
             got {} and {}",
            split.train.len(),
            split.test.len()
        )));
    }
    create_dir(dir)?;
    let (base, extra) = (split.train.len() / files, split.train.len() % files);
    let mut start = 0;
    for (k, name) in CIFAR10_TRAIN_FILES.iter().enumerate() {
        let end = start + base + usize::from(k < extra);
        let part: Vec<usize> = (start..end).collect();
        write(
            &dir.join(name),
            &encode_cifar10(&split.train.subset(&part))?,
        )?;
        start = end;
    }
    write(&dir.join(CIFAR10_TEST_FILE), &encode_cifar10(&split.test)?)
}

/// Writes `split` into `dir` (created if needed) as the four MNIST IDX files, gzipped (with
/// the `.gz` suffix) when `gzip` is set.
///
/// Needs single-channel images of at most 10 classes.
pub fn write_idx_dir(dir: impl AsRef<Path>, split: &Split, gzip: bool) -> Result<()> {
    let dir = dir.as_ref();
    create_dir(dir)?;
    for (set, (images, labels)) in [&split.train, &split.test].into_iter().zip(MNIST_FILES) {
        let [c, rows, cols] = set.shape();
        if c != 1 || set.num_classes() > 10 {
            return Err(DatasetError::Invalid(format!(
                "IDX files hold single-channel images of at most 10 classes, not {:?} images \
                 of {} classes",
                set.shape(),
                set.num_classes()
            )));
        }
        write_idx(
            dir,
            images,
            &encode_idx_images(set.pixels(), rows, cols),
            gzip,
        )?;
        write_idx(dir, labels, &encode_idx_labels(set.labels()), gzip)?;
    }
    Ok(())
}

/// Writes one IDX file, gzipped as `name.gz` when `gzip` is set.
fn write_idx(dir: &Path, name: &str, bytes: &[u8], gzip: bool) -> Result<()> {
    if !gzip {
        return write(&dir.join(name), bytes);
    }
    let path = dir.join(format!("{name}.gz"));
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|source| write_error(&path, source))
        .and_then(|gz| write(&path, &gz))
}

/// Creates `dir` and its parents.
fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| write_error(dir, source))
}

/// Writes `bytes` to `path`.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|source| write_error(path, source))
}

/// An I/O error while writing `path`.
fn write_error(path: &Path, source: std::io::Error) -> DatasetError {
    DatasetError::Write {
        path: path.to_path_buf(),
        source,
    }
}
