//! Files in the exact official formats, written byte by byte (independently of the crate's own
//! encoders), and small helpers shared by the tests.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes in one CIFAR-10 record.
pub const RECORD: usize = 3073;

/// One CIFAR-10 record: the label byte, then 1024 red, 1024 green, 1024 blue bytes, each plane
/// row-major, with red = (row + col), green = 2 * col, blue = a byte from `salt`.
pub fn cifar_record(label: u8, salt: u8) -> Vec<u8> {
    let mut record = vec![label];
    for row in 0..32u8 {
        for col in 0..32u8 {
            record.push(row + col);
        }
    }
    for _row in 0..32u8 {
        for col in 0..32u8 {
            record.push(2 * col);
        }
    }
    record.extend(std::iter::repeat_n(salt, 1024));
    record
}

/// `count` CIFAR records with labels `(first_label + k) % 10` and salts `k`.
pub fn cifar_file(count: usize, first_label: u8) -> Vec<u8> {
    (0..count)
        .flat_map(|k| cifar_record((first_label + k as u8) % 10, k as u8))
        .collect()
}

/// Writes a complete CIFAR-10 directory: `per_file` records in each of the six files.
pub fn write_cifar_dir(dir: &Path, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 1..=5u8 {
        std::fs::write(
            dir.join(format!("data_batch_{k}.bin")),
            cifar_file(per_file, k),
        )
        .unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_file(per_file, 0)).unwrap();
}

/// A big-endian IDX header: magic, then dimensions.
pub fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// An IDX images file of `count` images `rows x cols`; pixel `p` of image `i` is
/// `(i * 7 + p) % 256`.
pub fn idx_images(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut out = idx_header(0x0803, &[count as u32, rows as u32, cols as u32]);
    for i in 0..count {
        out.extend((0..rows * cols).map(|p| ((i * 7 + p) % 256) as u8));
    }
    out
}

/// An IDX labels file holding `labels`.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = idx_header(0x0801, &[labels.len() as u32]);
    out.extend_from_slice(labels);
    out
}

/// `bytes` gzipped.
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes the four MNIST files (`train` and `test` images of 28x28, labels `i % 10`), gzipped
/// (`.gz` names) when `gzip` is set.
pub fn write_idx_dir(dir: &Path, train: usize, test: usize, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
    let files = [
        ("train-images-idx3-ubyte", idx_images(train, 28, 28)),
        ("train-labels-idx1-ubyte", idx_labels(&labels(train))),
        ("t10k-images-idx3-ubyte", idx_images(test, 28, 28)),
        ("t10k-labels-idx1-ubyte", idx_labels(&labels(test))),
    ];
    for (name, bytes) in files {
        if gzip {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// A seed for a randomized test: `BYZSGD_TEST_SEED` if set, else a fresh one; printed so that
/// a failure can be replayed with `BYZSGD_TEST_SEED=<seed> cargo test -p byzsgd-datasets`.
pub fn test_seed(test: &str) -> u64 {
    let seed = std::env::var("BYZSGD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("{test}: seed {seed} (replay with BYZSGD_TEST_SEED={seed})");
    seed
}

/// A generator for test data.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The error's message, for assertions.
pub fn message<T: std::fmt::Debug>(result: byzsgd_datasets::Result<T>) -> String {
    result.expect_err("expected an error").to_string()
}
