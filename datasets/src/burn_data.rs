//! Burn's data conventions: [`ImageSet`] as a `Dataset<ImageItem>`, an [`ImageBatcher`] for
//! Burn's data loaders, and [`batch_from_indices`], the fast path that fills one batch tensor
//! straight from the set without an allocation per image.
//!
//! Items keep their raw `u8` pixels; normalisation happens once per batch, through a 256-entry
//! table per channel.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;

use crate::augment::CropFlip;
use crate::image_set::ImageSet;
use crate::normalization::Normalization;

/// One labelled image, as Burn's `Dataset::get` hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageItem {
    /// CHW pixels, unnormalised.
    pub pixels: Vec<u8>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// The class, `0..num_classes`.
    pub label: usize,
}

/// A batch ready for a model: normalised images and their classes.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// `[B, C, H, W]` normalised images.
    pub images: Tensor<4>,
    /// `[B]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Burn's `Dataset` over the images, in order. Like Burn's `InMemDataset`, `get` never
/// fails and panics on an index `>= len()`.
impl Dataset<ImageItem> for ImageSet {
    fn get(&self, index: usize) -> Result<ImageItem, burn::data::dataset::DatasetError> {
        let len = ImageSet::len(self);
        assert!(
            index < len,
            "index out of bounds for ImageSet: {index} >= {len}"
        );
        Ok(ImageItem {
            pixels: self.image(index).to_vec(),
            shape: self.shape(),
            label: usize::from(self.label(index)),
        })
    }

    fn len(&self) -> usize {
        ImageSet::len(self)
    }
}

/// Batches [`ImageItem`]s into an [`ImageBatch`], normalising with a fixed [`Normalization`].
#[derive(Debug, Clone)]
pub struct ImageBatcher {
    normalization: Normalization,
    table: Vec<[f32; 256]>,
}

impl ImageBatcher {
    /// A batcher that normalises with `normalization`.
    pub fn new(normalization: Normalization) -> Self {
        let table = normalization.lookup_table();
        Self {
            normalization,
            table,
        }
    }

    /// The normalisation applied.
    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    /// # Panics
    /// If `items` is empty, the items' shapes differ, or their channel count is not the
    /// normalisation's.
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let shape = items.first().expect("cannot batch zero items").shape;
        let image_len: usize = shape.iter().product();
        let mut data = vec![0.0f32; items.len() * image_len];
        for (item, out) in items.iter().zip(data.chunks_exact_mut(image_len)) {
            assert_eq!(item.shape, shape, "items of one batch must share a shape");
            Normalization::normalize_into(&self.table, &item.pixels, shape, out);
        }
        let labels = items.iter().map(|item| item.label as i64).collect();
        to_batch(data, labels, shape, device)
    }
}

/// The images at `indices` of `set`, normalised, as one `[B, C, H, W]` batch with its targets.
///
/// # Panics
/// If an index is out of range or `norm` has not `set`'s channel count.
pub fn batch_from_indices(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    device: &Device,
) -> ImageBatch {
    let data = normalized_pixels(set, indices, norm);
    to_batch(data, targets(set, indices), set.shape(), device)
}

/// Like [`batch_from_indices`], augmenting each image with `augment` (drawing from `rng`)
/// before normalising it.
///
/// # Panics
/// As [`batch_from_indices`].
pub fn augmented_batch_from_indices(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    augment: &CropFlip,
    rng: &mut impl Rng,
    device: &Device,
) -> ImageBatch {
    let shape = set.shape();
    let table = checked_table(set, norm);
    let mut data = vec![0.0f32; indices.len() * set.image_len()];
    let mut scratch = vec![0u8; set.image_len()];
    for (&i, out) in indices.iter().zip(data.chunks_exact_mut(set.image_len())) {
        augment.apply_into(rng, set.image(i), shape, &mut scratch);
        Normalization::normalize_into(&table, &scratch, shape, out);
    }
    to_batch(data, targets(set, indices), shape, device)
}

/// The images at `indices`, normalised, one after the other (`B * C * H * W` values): the
/// host-side data of [`batch_from_indices`].
///
/// # Panics
/// As [`batch_from_indices`].
pub fn normalized_pixels(set: &ImageSet, indices: &[usize], norm: &Normalization) -> Vec<f32> {
    let table = checked_table(set, norm);
    let mut data = vec![0.0f32; indices.len() * set.image_len()];
    for (&i, out) in indices.iter().zip(data.chunks_exact_mut(set.image_len())) {
        Normalization::normalize_into(&table, set.image(i), set.shape(), out);
    }
    data
}

/// `norm`'s table, after checking it fits `set`.
fn checked_table(set: &ImageSet, norm: &Normalization) -> Vec<[f32; 256]> {
    if let Err(e) = norm.check(set.shape()) {
        panic!("{e}");
    }
    norm.lookup_table()
}

/// The labels at `indices` as Burn's integer type.
fn targets(set: &ImageSet, indices: &[usize]) -> Vec<i64> {
    indices.iter().map(|&i| i64::from(set.label(i))).collect()
}

/// Moves host data onto `device` as an [`ImageBatch`].
fn to_batch(data: Vec<f32>, labels: Vec<i64>, shape: [usize; 3], device: &Device) -> ImageBatch {
    let b = labels.len();
    let [c, h, w] = shape;
    ImageBatch {
        images: Tensor::<4>::from_data(TensorData::new(data, [b, c, h, w]), device),
        targets: Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), device),
    }
}
