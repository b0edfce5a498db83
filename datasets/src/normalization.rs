//! Per-channel normalisation of `u8` pixels to `f32`: `(p / 255 - mean[c]) / std[c]`.

use crate::error::{DatasetError, Result};
use crate::image_set::ImageSet;

/// Per-channel mean and standard deviation of pixel values scaled to `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// Mean of each channel, in `[0, 1]` units.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel, in `[0, 1]` units; positive.
    pub std: Vec<f32>,
}

impl Normalization {
    /// A normalisation from per-channel means and standard deviations.
    ///
    /// Refuses lengths that differ, no channel, or a standard deviation that is not positive
    /// and finite.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(DatasetError::Invalid(format!(
                "normalisation needs one mean and one std per channel, got {} means and {} stds",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DatasetError::Invalid(format!(
                "normalisation std must be positive and finite, got {s}"
            )));
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(DatasetError::Invalid(format!(
                "normalisation mean must be finite, got {m}"
            )));
        }
        Ok(Self { mean, std })
    }

    /// CIFAR-10's training-set statistics.
    pub fn cifar10() -> Self {
        Self {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }

    /// MNIST digits' training-set statistics.
    pub fn mnist() -> Self {
        Self {
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    /// Fashion-MNIST's training-set statistics.
    pub fn fashion_mnist() -> Self {
        Self {
            mean: vec![0.2860],
            std: vec![0.3530],
        }
    }

    /// Fixed statistics for the synthetic set (one channel, mean 0.5, std 0.5: maps pixels to
    /// `[-1, 1]`); [`Normalization::from_data`] fits a set more closely.
    pub fn synthetic() -> Self {
        Self {
            mean: vec![0.5],
            std: vec![0.5],
        }
    }

    /// Fixed statistics for the CIFAR-shaped synthetic set: as [`Normalization::synthetic`], on
    /// each of its three channels.
    pub fn synthetic_cifar() -> Self {
        Self {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }
    }

    /// The per-channel mean and standard deviation of `set`'s pixels (a constant channel gets
    /// std 1, so that it is only centred).
    pub fn from_data(set: &ImageSet) -> Self {
        let [channels, h, w] = set.shape();
        let plane = h * w;
        let mut sum = vec![0u64; channels];
        let mut sum_sq = vec![0u64; channels];
        for image in set.pixels().chunks_exact(channels * plane) {
            for (c, values) in image.chunks_exact(plane).enumerate() {
                for &p in values {
                    sum[c] += u64::from(p);
                    sum_sq[c] += u64::from(p) * u64::from(p);
                }
            }
        }
        let count = (set.len() * plane).max(1) as f64;
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in 0..channels {
            let m = sum[c] as f64 / count;
            let var = (sum_sq[c] as f64 / count - m * m).max(0.0);
            mean.push((m / 255.0) as f32);
            let s = (var.sqrt() / 255.0) as f32;
            std.push(if s > 1e-6 { s } else { 1.0 });
        }
        Self { mean, std }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// For each channel, the normalised value of every byte: `table[c][p]`.
    pub fn lookup_table(&self) -> Vec<[f32; 256]> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| std::array::from_fn(|p| (p as f32 / 255.0 - m) / s))
            .collect()
    }

    /// Normalises one CHW image of `shape` into `out` (same length as `pixels`), using a table
    /// from [`Normalization::lookup_table`].
    ///
    /// # Panics
    /// If the table's channels differ from `shape[0]` or the lengths disagree with `shape`.
    pub fn normalize_into(table: &[[f32; 256]], pixels: &[u8], shape: [usize; 3], out: &mut [f32]) {
        let plane = shape[1] * shape[2];
        assert_eq!(
            table.len(),
            shape[0],
            "normalisation channels vs image shape"
        );
        assert_eq!(pixels.len(), shape[0] * plane, "pixels vs image shape");
        assert_eq!(out.len(), pixels.len(), "output vs pixels");
        for (c, lut) in table.iter().enumerate() {
            let range = c * plane..(c + 1) * plane;
            for (o, &p) in out[range.clone()].iter_mut().zip(&pixels[range]) {
                *o = lut[usize::from(p)];
            }
        }
    }

    /// One CHW image of `shape` as normalised `f32`s.
    ///
    /// Refuses a shape whose channel count is not [`Normalization::channels`], or pixels that
    /// are not one image of `shape`.
    pub fn normalize(&self, pixels: &[u8], shape: [usize; 3]) -> Result<Vec<f32>> {
        self.check(shape)?;
        if pixels.len() != shape.iter().product::<usize>() {
            return Err(DatasetError::Invalid(format!(
                "{} pixels are not one {shape:?} image",
                pixels.len()
            )));
        }
        let mut out = vec![0.0; pixels.len()];
        Self::normalize_into(&self.lookup_table(), pixels, shape, &mut out);
        Ok(out)
    }

    /// Checks that images of `shape` have this normalisation's channel count.
    pub fn check(&self, shape: [usize; 3]) -> Result<()> {
        if shape[0] != self.channels() {
            return Err(DatasetError::Invalid(format!(
                "normalisation has {} channels but images have shape {shape:?}",
                self.channels()
            )));
        }
        Ok(())
    }
}
