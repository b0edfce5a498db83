//! The real Fashion-MNIST, as Debian's `dataset-fashion-mnist` installs it. This test fails
//! (never skips) when the package is missing, with a message naming the package.

use byzsgd_datasets::mnist::FASHION_MNIST_PACKAGE;
use byzsgd_datasets::{DatasetError, FASHION_MNIST_DIR, Normalization, load_fashion_mnist_default};

#[test]
fn real_fashion_mnist_loads_with_6000_per_class() {
    let split = load_fashion_mnist_default().unwrap_or_else(|e| {
        panic!("the real Fashion-MNIST is needed (package {FASHION_MNIST_PACKAGE}): {e}")
    });
    assert_eq!(split.train.len(), 60_000);
    assert_eq!(split.test.len(), 10_000);
    assert_eq!(split.train.shape(), [1, 28, 28]);
    assert_eq!(split.test.shape(), [1, 28, 28]);
    assert_eq!(split.train.class_histogram(), vec![6000; 10]);
    assert_eq!(split.test.class_histogram(), vec![1000; 10]);
    // The published normalisation constants are this data's statistics.
    let fitted = Normalization::from_data(&split.train);
    let published = Normalization::fashion_mnist();
    assert!(
        (fitted.mean[0] - published.mean[0]).abs() < 1e-3,
        "{fitted:?}"
    );
    assert!(
        (fitted.std[0] - published.std[0]).abs() < 1e-3,
        "{fitted:?}"
    );
}

#[test]
fn missing_default_directory_names_the_package() {
    let err = DatasetError::NotInstalled {
        path: FASHION_MNIST_DIR.into(),
        package: FASHION_MNIST_PACKAGE,
    };
    let msg = err.to_string();
    assert!(
        msg.starts_with("/usr/share/datasets/fashion-mnist: "),
        "{msg}"
    );
    assert!(
        msg.contains("install it with `apt-get install dataset-fashion-mnist`"),
        "{msg}"
    );
}
