//! CIFAR-10 binary loader on files written in the official format, whole and broken.

use byzsgd_datasets::cifar10::{CIFAR10_ORIGIN, load_cifar10_file};
use byzsgd_datasets::{load_cifar10, synthetic, write_cifar10_dir};

use crate::fixtures::{RECORD, cifar_file, cifar_record, message, write_cifar_dir};

#[test]
fn loads_a_small_directory_in_the_official_layout() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 3);
    let split = load_cifar10(dir.path()).unwrap();
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 3);
    assert_eq!(split.train.shape(), [3, 32, 32]);
    assert_eq!(split.train.num_classes(), 10);
    // Files load in order 1..5; file k's labels start at k.
    let labels: Vec<u8> = (0..15).map(|i| split.train.label(i)).collect();
    assert_eq!(labels, [1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6, 5, 6, 7]);
    assert_eq!(split.test.labels(), [0, 1, 2]);
    // Pixels are the record's bytes after the label: R plane, G plane, B plane, row-major.
    let image = split.train.image(4);
    assert_eq!(image, &cifar_record(3, 1)[1..]);
    assert_eq!(image[5 * 32 + 7], 12, "red at row 5, col 7");
    assert_eq!(image[1024 + 5 * 32 + 7], 14, "green at row 5, col 7");
    assert_eq!(image[2048 + 100], 1, "blue is the record's salt");
    let mut expected = vec![0; 10];
    for l in labels {
        expected[usize::from(l)] += 1;
    }
    assert_eq!(split.train.class_histogram(), expected);
}

#[test]
fn finds_the_extracted_subfolder() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(&dir.path().join("cifar-10-batches-bin"), 1);
    let split = load_cifar10(dir.path()).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (5, 1));
}

#[test]
fn export_round_trips() {
    let base = synthetic::generate(12, 4, 3);
    // Three channels from the synthetic gray images, with the right shape.
    let to_rgb = |set: &byzsgd_datasets::ImageSet| {
        let mut pixels = Vec::new();
        for i in 0..set.len() {
            let gray = set.image(i);
            for c in 0..3u8 {
                pixels.extend((0..1024).map(|p| gray[p % 784].wrapping_add(c)));
            }
        }
        byzsgd_datasets::ImageSet::new(pixels, set.labels().to_vec(), [3, 32, 32], 10).unwrap()
    };
    let split = byzsgd_datasets::Split {
        train: to_rgb(&base.train),
        test: to_rgb(&base.test),
    };
    let dir = tempfile::tempdir().unwrap();
    write_cifar10_dir(dir.path(), &split).unwrap();
    let sizes: Vec<u64> = (1..=5)
        .map(|k| {
            let path = dir.path().join(format!("data_batch_{k}.bin"));
            std::fs::metadata(path).unwrap().len()
        })
        .collect();
    let r = RECORD as u64;
    assert_eq!(sizes, [3 * r, 3 * r, 2 * r, 2 * r, 2 * r]);
    assert_eq!(load_cifar10(dir.path()).unwrap(), split);
}

#[test]
fn missing_file_names_it_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 1);
    std::fs::remove_file(dir.path().join("data_batch_3.bin")).unwrap();
    let msg = message(load_cifar10(dir.path()));
    assert!(msg.contains(&format!(
        "{}",
        dir.path().join("data_batch_3.bin").display()
    )));
    assert!(msg.contains("not found"), "{msg}");
    assert!(msg.contains("3073-byte records"), "{msg}");
    assert!(
        msg.contains("https://www.cs.toronto.edu/~kriz/cifar.html"),
        "{msg}"
    );
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
    assert!(msg.contains(CIFAR10_ORIGIN), "{msg}");
}

#[test]
fn partial_record_is_refused_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 2);
    let path = dir.path().join("test_batch.bin");
    let mut bytes = cifar_file(2, 0);
    bytes.truncate(2 * RECORD - 10);
    std::fs::write(&path, &bytes).unwrap();
    let msg = message(load_cifar10(dir.path()));
    assert!(msg.starts_with(&format!("{}:", path.display())), "{msg}");
    assert!(msg.contains("6136 bytes"), "{msg}");
    assert!(
        msg.contains("not a whole number of 3073-byte records"),
        "{msg}"
    );
    assert!(msg.contains("30730000"), "official size: {msg}");
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
}

#[test]
fn trailing_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data_batch_1.bin");
    let mut bytes = cifar_file(1, 0);
    bytes.push(0);
    std::fs::write(&path, &bytes).unwrap();
    let msg = message(load_cifar10_file(&path));
    assert!(msg.contains("3074 bytes"), "{msg}");
}

#[test]
fn empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 1);
    let path = dir.path().join("data_batch_5.bin");
    std::fs::write(&path, []).unwrap();
    let msg = message(load_cifar10(dir.path()));
    assert!(
        msg.starts_with(&format!("{}: empty file", path.display())),
        "{msg}"
    );
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
}

#[test]
fn label_ten_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data_batch_1.bin");
    let mut bytes = cifar_file(3, 0);
    bytes[RECORD * 2] = 10;
    std::fs::write(&path, &bytes).unwrap();
    let msg = message(load_cifar10_file(&path));
    assert!(msg.starts_with(&format!("{}:", path.display())), "{msg}");
    assert!(
        msg.contains("record 2 has label 10, expected 0..=9"),
        "{msg}"
    );
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
}
