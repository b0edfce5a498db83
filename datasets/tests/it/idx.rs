//! (Fashion-)MNIST IDX loader on files in the exact format, plain and gzipped, whole and broken.

use byzsgd_datasets::idx::{encode_idx_images, parse_idx_images};
use byzsgd_datasets::mnist::{FASHION_MNIST_ORIGIN, MNIST_ORIGIN};
use byzsgd_datasets::{load_fashion_mnist, load_mnist, synthetic, write_idx_dir};

use crate::fixtures::{self, gz, idx_header, idx_images, idx_labels, message};

/// Checks the fixture data of [`fixtures::write_idx_dir`] came back.
fn check_fixture(split: &byzsgd_datasets::Split, train: usize, test: usize) {
    assert_eq!((split.train.len(), split.test.len()), (train, test));
    assert_eq!(split.train.shape(), [1, 28, 28]);
    assert_eq!(split.train.num_classes(), 10);
    for i in 0..train {
        assert_eq!(usize::from(split.train.label(i)), i % 10);
        let image = split.train.image(i);
        assert_eq!(image[0], (i * 7 % 256) as u8);
        assert_eq!(image[783], ((i * 7 + 783) % 256) as u8);
    }
}

#[test]
fn plain_files_load() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 23, 7, false);
    check_fixture(&load_mnist(dir.path()).unwrap(), 23, 7);
}

#[test]
fn gzipped_files_load() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 23, 7, true);
    check_fixture(&load_fashion_mnist(dir.path()).unwrap(), 23, 7);
}

#[test]
fn plain_file_is_preferred_over_gz() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 5, 2, true);
    let other: Vec<u8> = vec![9; 5];
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_labels(&other),
    )
    .unwrap();
    assert_eq!(load_mnist(dir.path()).unwrap().train.labels(), other);
}

#[test]
fn export_round_trips_plain_and_gzipped() {
    let split = synthetic::generate(30, 10, 11);
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_idx_dir(dir.path(), &split, gzip).unwrap();
        let gz_name = dir.path().join("t10k-images-idx3-ubyte.gz");
        assert_eq!(gz_name.exists(), gzip);
        assert_eq!(load_mnist(dir.path()).unwrap(), split);
    }
    assert_eq!(
        parse_idx_images(
            std::path::Path::new("x"),
            &encode_idx_images(&[1, 2, 3, 4], 2, 2),
            ""
        )
        .unwrap()
        .count,
        1
    );
}

#[test]
fn missing_file_names_it_and_the_gz_alternative() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 3, 3, true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let msg = message(load_fashion_mnist(dir.path()));
    let path = dir.path().join("t10k-labels-idx1-ubyte");
    assert!(
        msg.starts_with(&format!("{}: file not found", path.display())),
        "{msg}"
    );
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
    assert!(msg.contains("magic 0x00000801"), "{msg}");
    assert!(
        msg.contains("apt-get install dataset-fashion-mnist"),
        "{msg}"
    );
    assert!(msg.contains(FASHION_MNIST_ORIGIN), "{msg}");
}

#[test]
fn truncated_images_file_gives_expected_and_actual_sizes() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 4, 2, true);
    let mut bytes = idx_images(4, 28, 28);
    bytes.truncate(bytes.len() - 100);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, gz(&bytes)).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: truncated", path.display())),
        "{msg}"
    );
    assert!(msg.contains("3052 bytes, expected 3152 bytes"), "{msg}");
    assert!(msg.contains("dimensions 4x28x28"), "{msg}");
    assert!(msg.contains(MNIST_ORIGIN), "{msg}");
}

#[test]
fn trailing_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 4, 2, false);
    let mut bytes = idx_labels(&[0, 1]);
    bytes.extend_from_slice(&[0, 0, 0]);
    let path = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::write(&path, bytes).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: trailing data", path.display())),
        "{msg}"
    );
    assert!(msg.contains("13 bytes, expected 10 bytes"), "{msg}");
}

#[test]
fn short_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 4, 2, false);
    let path = dir.path().join("train-images-idx3-ubyte");
    std::fs::write(&path, idx_header(0x0803, &[4])).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: truncated", path.display())),
        "{msg}"
    );
    assert!(msg.contains("8 bytes, expected 16 bytes"), "{msg}");
}

#[test]
fn bad_magic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 4, 2, false);
    // An images file where the labels file should be.
    let path = dir.path().join("train-labels-idx1-ubyte");
    std::fs::write(&path, idx_images(4, 28, 28)).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: magic number", path.display())),
        "{msg}"
    );
    assert!(
        msg.contains("magic number 0x00000803, expected 0x00000801"),
        "{msg}"
    );
}

#[test]
fn count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 4, 2, true);
    let path = dir.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&path, gz(&idx_labels(&[0, 1, 2]))).unwrap();
    let msg = message(load_mnist(dir.path()));
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    assert!(
        msg.contains(&format!("{} holds 4 images", images.display())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{} holds 3 labels", path.display())),
        "{msg}"
    );
}

#[test]
fn label_ten_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 2, 3, false);
    let path = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::write(&path, idx_labels(&[0, 10, 2])).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(msg.starts_with(&format!("{}:", path.display())), "{msg}");
    assert!(
        msg.contains("record 1 has label 10, expected 0..=9"),
        "{msg}"
    );
}

#[test]
fn corrupt_gzip_is_a_read_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_idx_dir(dir.path(), 2, 2, true);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&path, bytes).unwrap();
    let msg = message(load_mnist(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: cannot read", path.display())),
        "{msg}"
    );
}
