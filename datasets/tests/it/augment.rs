//! Crop-with-padding and flip: shapes kept, flips undo themselves, crops shift and zero-fill.

use byzsgd_datasets::augment::{crop, hflip};
use byzsgd_datasets::{CropFlip, random_crop_flip};
use rand::Rng;

use crate::fixtures::{rng, test_seed};

const SHAPE: [usize; 3] = [3, 32, 32];

fn random_image(seed: u64) -> Vec<u8> {
    let mut r = rng(seed);
    (0..3 * 32 * 32).map(|_| r.random_range(1..=255)).collect()
}

#[test]
fn flip_twice_is_identity_and_flip_mirrors_rows() {
    let image = random_image(test_seed("flip_twice_is_identity_and_flip_mirrors_rows"));
    let flipped = hflip(&image, SHAPE);
    assert_ne!(flipped, image);
    assert_eq!(hflip(&flipped, SHAPE), image);
    // Channel 2, row 7, column 3 goes to column 28.
    assert_eq!(
        flipped[2 * 1024 + 7 * 32 + 28],
        image[2 * 1024 + 7 * 32 + 3]
    );
}

#[test]
fn crop_shifts_and_fills_with_zeros() {
    let image = random_image(5);
    assert_eq!(crop(&image, SHAPE, 0, 0), image);
    let moved = crop(&image, SHAPE, 2, -3);
    // out[y][x] = in[y + 2][x - 3]; zero outside.
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let (sy, sx) = (y as i64 + 2, x as i64 - 3);
                let expected = if (0..32).contains(&sy) && (0..32).contains(&sx) {
                    image[c * 1024 + sy as usize * 32 + sx as usize]
                } else {
                    0
                };
                assert_eq!(moved[c * 1024 + y * 32 + x], expected, "c {c} y {y} x {x}");
            }
        }
    }
    assert!(crop(&image, SHAPE, 40, 0).iter().all(|&p| p == 0));
}

#[test]
fn random_crop_flip_keeps_shape_and_is_one_of_the_candidates() {
    let seed = test_seed("random_crop_flip_keeps_shape_and_is_one_of_the_candidates");
    let image = random_image(seed);
    let mut r = rng(seed);
    let mut flips = 0;
    let mut shifted = 0;
    for _ in 0..100 {
        let out = random_crop_flip(&mut r, &image, SHAPE);
        assert_eq!(out.len(), image.len());
        let matches = |candidate: &[u8]| candidate == out.as_slice();
        let found = (-4..=4i64)
            .flat_map(|oy| (-4..=4i64).map(move |ox| (oy, ox)))
            .find_map(|(oy, ox)| {
                let cropped = crop(&image, SHAPE, oy, ox);
                if matches(&cropped) {
                    Some((oy, ox, false))
                } else if matches(&hflip(&cropped, SHAPE)) {
                    Some((oy, ox, true))
                } else {
                    None
                }
            });
        let (oy, ox, flip) = found.expect("output is a padded crop, maybe flipped");
        flips += usize::from(flip);
        shifted += usize::from((oy, ox) != (0, 0));
    }
    assert!((25..=75).contains(&flips), "{flips} flips in 100");
    assert!(shifted > 80, "{shifted} shifted crops in 100");
    // Same generator state, same output.
    let (mut a, mut b) = (rng(seed), rng(seed));
    assert_eq!(
        random_crop_flip(&mut a, &image, SHAPE),
        random_crop_flip(&mut b, &image, SHAPE)
    );
}

#[test]
fn no_padding_no_flip_is_identity_on_other_shapes() {
    let shape = [1, 28, 20];
    let image: Vec<u8> = (0..560).map(|i| (i % 251) as u8).collect();
    let none = CropFlip {
        padding: 0,
        flip: false,
    };
    assert_eq!(none.apply(&mut rng(1), &image, shape), image);
}
