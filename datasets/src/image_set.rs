//! [`ImageSet`]: labelled images as raw bytes, and a train/test [`Split`].

use crate::error::{DatasetError, Result};

/// Labelled images kept as they are stored on disk: `u8` pixels, one label byte per image.
///
/// Image `i` is `pixels[i * C*H*W .. (i + 1) * C*H*W]`, channel-major then row-major (CHW),
/// the layout of both CIFAR-10 binary records and IDX files. Labels are `0..num_classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    shape: [usize; 3],
    num_classes: usize,
}

/// A data set's training and test parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The training images.
    pub train: ImageSet,
    /// The held-out test images.
    pub test: ImageSet,
}

impl ImageSet {
    /// Builds a set from CHW pixels, one label per image, the `[C, H, W]` shape of one image and
    /// the number of classes.
    ///
    /// Refuses a shape with a zero dimension, zero classes, a pixel buffer that is not
    /// `labels.len()` images, or a label `>= num_classes`.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u8>,
        shape: [usize; 3],
        num_classes: usize,
    ) -> Result<Self> {
        if shape.contains(&0) {
            return Err(DatasetError::Invalid(format!(
                "image shape {shape:?} has a zero dimension"
            )));
        }
        if num_classes == 0 || num_classes > 256 {
            return Err(DatasetError::Invalid(format!(
                "{num_classes} classes: expected 1..=256 (labels are bytes)"
            )));
        }
        let image_len = shape.iter().product::<usize>();
        if Some(pixels.len()) != labels.len().checked_mul(image_len) {
            return Err(DatasetError::Invalid(format!(
                "{} pixel bytes for {} labels of {shape:?} images: expected {} bytes",
                pixels.len(),
                labels.len(),
                labels.len().saturating_mul(image_len)
            )));
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(DatasetError::Invalid(format!(
                "label {} of image {i} is not below {num_classes} classes",
                labels[i]
            )));
        }
        Ok(Self {
            pixels,
            labels,
            shape,
            num_classes,
        })
    }

    /// The `[C, H, W]` shape of one image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Bytes in one image: `C * H * W`.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The CHW pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The label of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// How many images each class has: entry `c` counts label `c`.
    pub fn class_histogram(&self) -> Vec<usize> {
        let mut histogram = vec![0; self.num_classes];
        for &label in &self.labels {
            histogram[usize::from(label)] += 1;
        }
        histogram
    }

    /// A new set holding the images at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            num_classes: self.num_classes,
        }
    }

    /// Appends `other`'s images; both sets must have the same shape and class count.
    pub fn append(&mut self, other: ImageSet) -> Result<()> {
        if other.shape != self.shape || other.num_classes != self.num_classes {
            return Err(DatasetError::Invalid(format!(
                "cannot append {:?} images of {} classes to {:?} images of {} classes",
                other.shape, other.num_classes, self.shape, self.num_classes
            )));
        }
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
        Ok(())
    }
}
