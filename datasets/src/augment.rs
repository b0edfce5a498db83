//! CIFAR-style augmentation on `u8` CHW images: random crop after zero padding, and random
//! horizontal flip. Randomness comes from the caller's seeded generator.

use rand::Rng;

/// Random crop with zero padding and random horizontal flip, as in the usual CIFAR-10 recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlip {
    /// Zero padding on each side before cropping back to the original size (4 for CIFAR-10).
    pub padding: usize,
    /// Whether to flip left-right with probability 1/2.
    pub flip: bool,
}

impl CropFlip {
    /// The CIFAR-10 recipe: padding 4, random flip.
    pub const CIFAR10: CropFlip = CropFlip {
        padding: 4,
        flip: true,
    };

    /// Augments one CHW image of `shape`, drawing the crop offset and the flip from `rng`.
    ///
    /// # Panics
    /// If `pixels` is not one image of `shape`.
    pub fn apply(&self, rng: &mut impl Rng, pixels: &[u8], shape: [usize; 3]) -> Vec<u8> {
        let mut out = vec![0; pixels.len()];
        self.apply_into(rng, pixels, shape, &mut out);
        out
    }

    /// Like [`CropFlip::apply`], writing into `out` (same length as `pixels`).
    ///
    /// # Panics
    /// If `pixels` or `out` is not one image of `shape`.
    pub fn apply_into(&self, rng: &mut impl Rng, pixels: &[u8], shape: [usize; 3], out: &mut [u8]) {
        let span = 2 * self.padding as i64;
        let oy = rng.random_range(0..=span) - self.padding as i64;
        let ox = rng.random_range(0..=span) - self.padding as i64;
        let flip = self.flip && rng.random_bool(0.5);
        crop_into(pixels, shape, oy, ox, out);
        if flip {
            hflip_in_place(out, shape);
        }
    }
}

/// One CIFAR-10 augmentation (padding 4, random flip) of a CHW image of `shape`.
///
/// # Panics
/// If `pixels` is not one image of `shape`.
pub fn random_crop_flip(rng: &mut impl Rng, pixels: &[u8], shape: [usize; 3]) -> Vec<u8> {
    CropFlip::CIFAR10.apply(rng, pixels, shape)
}

/// The window of the zero-padded image whose top-left corner is `(oy, ox)` relative to the
/// original image's, as a new image of the same shape: `out[y][x] = pixels[y + oy][x + ox]`,
/// zero where that falls outside. Offset `(0, 0)` copies the image.
///
/// # Panics
/// If `pixels` is not one image of `shape`.
pub fn crop(pixels: &[u8], shape: [usize; 3], oy: i64, ox: i64) -> Vec<u8> {
    let mut out = vec![0; pixels.len()];
    crop_into(pixels, shape, oy, ox, &mut out);
    out
}

/// [`crop`] into `out`.
fn crop_into(pixels: &[u8], shape: [usize; 3], oy: i64, ox: i64, out: &mut [u8]) {
    let [c, h, w] = shape;
    assert_eq!(pixels.len(), c * h * w, "pixels vs image shape");
    assert_eq!(out.len(), pixels.len(), "output vs pixels");
    out.fill(0);
    // Columns x of the output whose source x + ox lies in 0..w.
    let x0 = (-ox).clamp(0, w as i64) as usize;
    let x1 = (w as i64 - ox).clamp(0, w as i64) as usize;
    if x0 >= x1 {
        return;
    }
    for ch in 0..c {
        for y in 0..h {
            let sy = y as i64 + oy;
            if !(0..h as i64).contains(&sy) {
                continue;
            }
            let src = (ch * h + sy as usize) * w;
            let dst = (ch * h + y) * w;
            let sx0 = (x0 as i64 + ox) as usize;
            out[dst + x0..dst + x1].copy_from_slice(&pixels[src + sx0..src + sx0 + (x1 - x0)]);
        }
    }
}

/// The image mirrored left-right.
///
/// # Panics
/// If `pixels` is not one image of `shape`.
pub fn hflip(pixels: &[u8], shape: [usize; 3]) -> Vec<u8> {
    let mut out = pixels.to_vec();
    hflip_in_place(&mut out, shape);
    out
}

/// Mirrors every row in place.
fn hflip_in_place(pixels: &mut [u8], shape: [usize; 3]) {
    let [c, h, w] = shape;
    assert_eq!(pixels.len(), c * h * w, "pixels vs image shape");
    for row in pixels.chunks_exact_mut(w) {
        row.reverse();
    }
}
