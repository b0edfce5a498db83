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
//!
//! [`generate_cifar`] draws the same kind of set shaped like CIFAR-10 (`3x32x32` colour), so
//! `cifarnet` and `resnet18` train with no download: each blob of a prototype has a colour (a
//! weight per channel), positions and widths scale with the side, and the rest is as above.
//! The `1x28x28` set draws exactly what it drew before colour existed.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{DatasetError, Result};
use crate::image_set::{ImageSet, Split};

/// Shape of one synthetic image: `[1, 28, 28]`.
pub const SYNTHETIC_SHAPE: [usize; 3] = [1, 28, 28];

/// Shape of one CIFAR-shaped synthetic image ([`generate_cifar`]): `[3, 32, 32]`.
pub const SYNTHETIC_CIFAR_SHAPE: [usize; 3] = [3, 32, 32];

/// Number of synthetic classes.
pub const SYNTHETIC_CLASSES: usize = 10;

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
    /// Image shape `[channels, side, side]`: square, at least 8 pixels a side.
    pub shape: [usize; 3],
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            blobs: 4,
            max_similarity: 0.7,
            max_shift: 3,
            noise_std: 100.0,
            max_mix: 0.5,
            shape: SYNTHETIC_SHAPE,
        }
    }
}

impl SyntheticConfig {
    /// Generates `train` training and `test` test images from `seed`.
    ///
    /// Refuses zero blobs, a negative shift, a noise std or mix weight that is negative or not
    /// finite, a mix weight of 1 or more, or a shape that is not square, has no channel or is
    /// under 8 pixels a side.
    pub fn generate(&self, train: usize, test: usize, seed: u64) -> Result<Split> {
        let [c, h, w] = self.shape;
        let valid = self.blobs > 0
            && self.max_shift >= 0
            && self.noise_std.is_finite()
            && self.noise_std >= 0.0
            && (0.0..1.0).contains(&self.max_mix)
            && c >= 1
            && h == w
            && (8..=4096).contains(&h);
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

/// Generates `train` training and `test` test colour images shaped like CIFAR-10
/// ([`SYNTHETIC_CIFAR_SHAPE`]) from `seed`, otherwise as [`generate`].
pub fn generate_cifar(train: usize, test: usize, seed: u64) -> Split {
    SyntheticConfig {
        shape: SYNTHETIC_CIFAR_SHAPE,
        ..SyntheticConfig::default()
    }
    .generate(train, test, seed)
    .expect("the CIFAR-shaped configuration is valid")
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
            let candidate = blobs(rng, self.blobs, 130.0..255.0, self.shape);
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
        let [channels, side, _] = self.shape;
        let plane = side * side;
        let mut pixels = Vec::with_capacity(len * channels * plane);
        for &label in &labels {
            let class = usize::from(label);
            let other = (class + rng.random_range(1..SYNTHETIC_CLASSES)) % SYNTHETIC_CLASSES;
            let dy = rng.random_range(-shift..=shift);
            let dx = rng.random_range(-shift..=shift);
            let contrast = rng.random_range(0.75..1.15f32);
            let mix = self.max_mix * rng.random::<f32>();
            for ch in 0..channels {
                let proto = &prototypes[class][ch * plane..(ch + 1) * plane];
                let distract = &prototypes[other][ch * plane..(ch + 1) * plane];
                for y in 0..side as i32 {
                    for x in 0..side as i32 {
                        let base = shifted(proto, side, y - dy, x - dx);
                        let distractor = distract[(y as usize) * side + x as usize];
                        let value = contrast * base + mix * distractor + noise.sample(rng);
                        pixels.push(value.round().clamp(0.0, 255.0) as u8);
                    }
                }
            }
        }
        ImageSet::new(pixels, labels, self.shape, SYNTHETIC_CLASSES)
            .expect("generated pixels and labels agree")
    }
}

/// A smooth pattern of `shape`: the clamped sum of `count` Gaussian blobs away from the border,
/// each with a colour (a weight per channel) when there is more than one channel. Positions and
/// widths scale with the side (28 pixels: centres in 6..22, widths 1.8..3.6).
fn blobs(
    rng: &mut ChaCha8Rng,
    count: usize,
    amplitude: std::ops::Range<f32>,
    shape: [usize; 3],
) -> Vec<f32> {
    let [channels, side, _] = shape;
    let plane = side * side;
    let scale = side as f32 / 28.0;
    let mut image = vec![0.0f32; channels * plane];
    for _ in 0..count {
        let cy = rng.random_range(6.0 * scale..22.0 * scale);
        let cx = rng.random_range(6.0 * scale..22.0 * scale);
        let sigma = rng.random_range(1.8 * scale..3.6 * scale);
        let amp = rng.random_range(amplitude.clone());
        // One channel draws nothing more: the grayscale set is what it always was.
        let colour: Vec<f32> = if channels == 1 {
            vec![1.0]
        } else {
            (0..channels)
                .map(|_| rng.random_range(0.2..1.0f32))
                .collect()
        };
        let denom = 2.0 * sigma * sigma;
        for (ch, weight) in colour.iter().enumerate() {
            for (i, v) in image[ch * plane..(ch + 1) * plane].iter_mut().enumerate() {
                let (y, x) = ((i / side) as f32, (i % side) as f32);
                let d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                *v += weight * amp * (-d2 / denom).exp();
            }
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

/// The value at `(y, x)` of one `side x side` plane, zero outside it.
fn shifted(plane: &[f32], side: usize, y: i32, x: i32) -> f32 {
    if (0..side as i32).contains(&y) && (0..side as i32).contains(&x) {
        plane[y as usize * side + x as usize]
    } else {
        0.0
    }
}
