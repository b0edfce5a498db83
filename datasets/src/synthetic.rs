//! A seeded, learnable image set generated in memory: no download, no file.
//!
//! 28x28 grayscale images of 10 classes, shaped like MNIST so that the same models run on both.
//! Each class has a prototype: a few smooth Gaussian blobs at random places, drawn from the
//! seed and kept only when it is far enough from the other classes' prototypes. A sample is its
//! class prototype shifted by up to 3 pixels each way, scaled in contrast, plus a fraction of
//! another class's prototype and per-pixel Gaussian noise (std 100), clamped to `0..=255`
//! ([`SyntheticConfig`] has the knobs).
//!
//! Measured with the defaults (5,000 training, 1,000 test images, seeds 0-2): the nearest class
//! mean scores about 0.82 on test, a linear softmax model 0.83-0.91, a 784-64-10 MLP trained
//! with plain SGD 0.92-0.95 after one epoch and 0.94-0.97 after five: learnable, with room
//! between models, and not solved at once.
//!
//! The same `(train, test, seed)` gives the same bytes on every machine. Classes are balanced:
//! each has `len / 10` or `len / 10 + 1` images, in a shuffled order. The test set does not
//! depend on the number of training images.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{DatasetError, Result};
use crate::image_set::{ImageSet, Split};

/// Shape of one synthetic image: `[1, 28, 28]`.
pub const SYNTHETIC_SHAPE: [usize; 3] = [1, 28, 28];

/// Number of synthetic classes.
pub const SYNTHETIC_CLASSES: usize = 10;

const SIDE: usize = 28;

/// How synthetic samples are drawn; [`SyntheticConfig::default`] is what [`generate`] uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticConfig {
    /// Gaussian blobs per class prototype.
    pub blobs: usize,
    /// Cosine similarity above which a new prototype is redrawn as too close to an earlier
    /// one (after 1,000 redraws the next candidate is kept, so any value terminates).
    pub max_similarity: f32,
    /// Largest shift of a sample from its prototype, in pixels, along each axis.
    pub max_shift: i32,
    /// Standard deviation of the per-pixel Gaussian noise, in pixel units (`0..=255`).
    pub noise_std: f32,
    /// Largest weight of another class's prototype mixed into a sample, in `[0, 1)`.
    pub max_mix: f32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            blobs: 4,
            max_similarity: 0.7,
            max_shift: 3,
            noise_std: 100.0,
            max_mix: 0.5,
        }
    }
}

impl SyntheticConfig {
    /// Generates `train` training and `test` test images from `seed`.
    ///
    /// Refuses zero blobs, a negative shift, a noise std or mix weight that is negative or not
    /// finite, or a mix weight of 1 or more.
    pub fn generate(&self, train: usize, test: usize, seed: u64) -> Result<Split> {
        let valid = self.blobs > 0
            && self.max_shift >= 0
            && self.noise_std.is_finite()
            && self.noise_std >= 0.0
            && (0.0..1.0).contains(&self.max_mix);
        if !valid {
            return Err(DatasetError::Invalid(format!(
                "synthetic configuration out of range: {self:?}"
            )));
        }
        let prototypes = self.prototypes(&mut stream(seed, 0));
        Ok(Split {
            train: self.samples(&prototypes, train, &mut stream(seed, 1)),
            test: self.samples(&prototypes, test, &mut stream(seed, 2)),
        })
    }
}

/// Generates `train` training and `test` test images from `seed`, with the default
/// [`SyntheticConfig`].
pub fn generate(train: usize, test: usize, seed: u64) -> Split {
    SyntheticConfig::default()
        .generate(train, test, seed)
        .expect("the default configuration is valid")
}

/// An independent random stream of `seed`.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl SyntheticConfig {
    /// One prototype per class, each far enough from the earlier ones.
    fn prototypes(&self, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(SYNTHETIC_CLASSES);
        let mut redraws = 0;
        while out.len() < SYNTHETIC_CLASSES {
            let candidate = blobs(rng, self.blobs, 130.0..255.0);
            let far = out
                .iter()
                .all(|p| cosine(p, &candidate) < self.max_similarity);
            if far || redraws >= 1000 {
                out.push(candidate);
                redraws = 0;
            } else {
                redraws += 1;
            }
        }
        out
    }

    /// `len` balanced, shuffled samples of the prototypes.
    fn samples(&self, prototypes: &[Vec<f32>], len: usize, rng: &mut ChaCha8Rng) -> ImageSet {
        let mut labels: Vec<u8> = (0..len).map(|i| (i % SYNTHETIC_CLASSES) as u8).collect();
        labels.shuffle(rng);
        let noise = Normal::new(0.0f32, self.noise_std).expect("checked finite, non-negative");
        let shift = self.max_shift;
        let mut pixels = Vec::with_capacity(len * SIDE * SIDE);
        for &label in &labels {
            let class = usize::from(label);
            let other = (class + rng.random_range(1..SYNTHETIC_CLASSES)) % SYNTHETIC_CLASSES;
            let dy = rng.random_range(-shift..=shift);
            let dx = rng.random_range(-shift..=shift);
            let contrast = rng.random_range(0.75..1.15f32);
            let mix = self.max_mix * rng.random::<f32>();
            for y in 0..SIDE as i32 {
                for x in 0..SIDE as i32 {
                    let base = shifted(&prototypes[class], y - dy, x - dx);
                    let distractor = prototypes[other][(y as usize) * SIDE + x as usize];
                    let value = contrast * base + mix * distractor + noise.sample(rng);
                    pixels.push(value.round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        ImageSet::new(pixels, labels, SYNTHETIC_SHAPE, SYNTHETIC_CLASSES)
            .expect("generated pixels and labels agree")
    }
}

/// A smooth pattern: the clamped sum of `count` Gaussian blobs away from the border.
fn blobs(rng: &mut ChaCha8Rng, count: usize, amplitude: std::ops::Range<f32>) -> Vec<f32> {
    let mut image = vec![0.0f32; SIDE * SIDE];
    for _ in 0..count {
        let cy = rng.random_range(6.0..22.0f32);
        let cx = rng.random_range(6.0..22.0f32);
        let sigma = rng.random_range(1.8..3.6f32);
        let amp = rng.random_range(amplitude.clone());
        let denom = 2.0 * sigma * sigma;
        for (i, v) in image.iter_mut().enumerate() {
            let (y, x) = ((i / SIDE) as f32, (i % SIDE) as f32);
            let d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
            *v += amp * (-d2 / denom).exp();
        }
    }
    image.iter_mut().for_each(|v| *v = v.min(255.0));
    image
}

/// Cosine similarity of two patterns.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(f32::MIN_POSITIVE)
}

/// The prototype's value at `(y, x)`, zero outside the image.
fn shifted(prototype: &[f32], y: i32, x: i32) -> f32 {
    if (0..SIDE as i32).contains(&y) && (0..SIDE as i32).contains(&x) {
        prototype[y as usize * SIDE + x as usize]
    } else {
        0.0
    }
}
