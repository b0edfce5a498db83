//! MNIST and Fashion-MNIST from their four IDX files.
//!
//! A directory holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each plain or gzipped (`.gz`; the
//! plain file is tried first). Fashion-MNIST has a default directory, where Debian's package
//! `dataset-fashion-mnist` installs it; MNIST digits are loaded from a directory the user gives.

use std::path::{Path, PathBuf};

use crate::error::{DatasetError, Result};
use crate::idx::{find_plain_or_gz, parse_idx_images, parse_idx_labels, read_maybe_gz};
use crate::image_set::{ImageSet, Split};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The Debian package that installs Fashion-MNIST under [`FASHION_MNIST_DIR`].
pub const FASHION_MNIST_PACKAGE: &str = "dataset-fashion-mnist";

/// Where Fashion-MNIST comes from, quoted in every error.
pub const FASHION_MNIST_ORIGIN: &str = "Fashion-MNIST: install it with \
    `apt-get install dataset-fashion-mnist` (files under /usr/share/datasets/fashion-mnist), \
    or download the four IDX .gz files from https://github.com/zalandoresearch/fashion-mnist";

/// Where MNIST comes from, quoted in every error.
pub const MNIST_ORIGIN: &str = "MNIST digits: the four IDX files (train-images-idx3-ubyte.gz, \
    train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from \
    https://yann.lecun.com/exdb/mnist/ or a mirror";

/// Number of classes of MNIST and Fashion-MNIST.
pub const MNIST_CLASSES: usize = 10;

/// Fashion-MNIST's class names, indexed by label.
pub const FASHION_MNIST_CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The IDX file names, without `.gz`: (images, labels) for train, then for test.
pub const MNIST_FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// Loads MNIST digits from `dir` (there is no default directory).
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<Split> {
    load_idx_split(dir.as_ref(), MNIST_ORIGIN)
}

/// Loads Fashion-MNIST from `dir`.
pub fn load_fashion_mnist(dir: impl AsRef<Path>) -> Result<Split> {
    load_idx_split(dir.as_ref(), FASHION_MNIST_ORIGIN)
}

/// Loads Fashion-MNIST from [`FASHION_MNIST_DIR`], where `apt-get install
/// dataset-fashion-mnist` puts it; a missing directory is [`DatasetError::NotInstalled`],
/// naming the package.
pub fn load_fashion_mnist_default() -> Result<Split> {
    let dir = Path::new(FASHION_MNIST_DIR);
    if !dir.is_dir() {
        return Err(DatasetError::NotInstalled {
            path: dir.to_path_buf(),
            package: FASHION_MNIST_PACKAGE,
        });
    }
    load_fashion_mnist(dir)
}

/// Loads the training and test parts of an IDX directory.
fn load_idx_split(dir: &Path, origin: &'static str) -> Result<Split> {
    let [(train_images, train_labels), (test_images, test_labels)] = MNIST_FILES;
    Ok(Split {
        train: load_idx_pair(dir, train_images, train_labels, origin)?,
        test: load_idx_pair(dir, test_images, test_labels, origin)?,
    })
}

/// Loads one images file and its labels file (each plain or `.gz`) as an [`ImageSet`].
///
/// Checks both headers against the file lengths, that the counts agree and that every label is
/// below 10; errors name the file and say where the data set comes from (`origin`).
pub fn load_idx_pair(
    dir: &Path,
    images_name: &str,
    labels_name: &str,
    origin: &'static str,
) -> Result<ImageSet> {
    let images_path = locate(
        dir,
        images_name,
        "an IDX images file (magic 0x00000803)",
        origin,
    )?;
    let labels_path = locate(
        dir,
        labels_name,
        "an IDX labels file (magic 0x00000801)",
        origin,
    )?;
    let images_bytes = read_maybe_gz(&images_path, "an IDX images file", origin)?;
    let images = parse_idx_images(&images_path, &images_bytes, origin)?;
    drop(images_bytes);
    let labels_bytes = read_maybe_gz(&labels_path, "an IDX labels file", origin)?;
    let labels = parse_idx_labels(&labels_path, &labels_bytes, origin)?;
    if images.count != labels.len() {
        return Err(DatasetError::CountMismatch {
            images_path,
            images: images.count,
            labels_path,
            labels: labels.len(),
            origin,
        });
    }
    if let Some(record) = labels.iter().position(|&l| usize::from(l) >= MNIST_CLASSES) {
        return Err(DatasetError::LabelOutOfRange {
            path: labels_path,
            record,
            label: labels[record],
            classes: MNIST_CLASSES,
            origin,
        });
    }
    if images.rows == 0 || images.cols == 0 {
        return Err(DatasetError::Invalid(format!(
            "{}: {}x{} images have no pixel. Data set: {origin}",
            images_path.display(),
            images.rows,
            images.cols
        )));
    }
    ImageSet::new(
        images.pixels,
        labels,
        [1, images.rows, images.cols],
        MNIST_CLASSES,
    )
}

/// The plain or gzipped file `name` in `dir`, or [`DatasetError::Missing`] naming both.
fn locate(dir: &Path, name: &str, expected: &str, origin: &'static str) -> Result<PathBuf> {
    find_plain_or_gz(dir, name).ok_or_else(|| DatasetError::Missing {
        path: dir.join(name),
        expected: format!("{expected}, plain or gzipped as {name}.gz"),
        origin,
    })
}
