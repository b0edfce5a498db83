//! Burn's Dataset and Batcher conventions, and the fast batch path.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use byzsgd_datasets::{
    CropFlip, ImageBatcher, ImageItem, ImageSet, Normalization, augmented_batch_from_indices,
    batch_from_indices, normalized_pixels, synthetic,
};

use crate::fixtures::rng;

fn floats(batch: &byzsgd_datasets::ImageBatch) -> (Vec<f32>, Vec<i64>) {
    let images = batch
        .images
        .to_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let targets = batch
        .targets
        .to_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    (images, targets)
}

#[test]
fn image_set_is_a_burn_dataset() {
    let set = synthetic::generate(20, 0, 1).train;
    assert_eq!(Dataset::<ImageItem>::len(&set), 20);
    let item: ImageItem = set.get(3).unwrap();
    assert_eq!(item.pixels, set.image(3));
    assert_eq!(item.shape, [1, 28, 28]);
    assert_eq!(item.label, usize::from(set.label(3)));
    let labels: Vec<usize> = Dataset::<ImageItem>::iter(&set)
        .map(|item| item.unwrap().label)
        .collect();
    assert_eq!(
        labels,
        set.labels()
            .iter()
            .map(|&l| usize::from(l))
            .collect::<Vec<_>>()
    );
}

#[test]
#[should_panic(expected = "index out of bounds for ImageSet: 20 >= 20")]
fn dataset_get_past_the_end_panics_like_burns_in_memory_dataset() {
    let set = synthetic::generate(20, 0, 1).train;
    let _ = Dataset::<ImageItem>::get(&set, 20);
}

#[test]
fn batcher_gives_bchw_images_and_targets_normalised() {
    let device = Device::default();
    let set = synthetic::generate(8, 0, 2).train;
    let norm = Normalization::synthetic();
    let items: Vec<ImageItem> = (0..5).map(|i| set.get(i).unwrap()).collect();
    let batch = ImageBatcher::new(norm.clone()).batch(items, &device);
    assert_eq!(batch.images.dims(), [5, 1, 28, 28]);
    assert_eq!(batch.targets.dims(), [5]);
    let (images, targets) = floats(&batch);
    let labels: Vec<i64> = (0..5).map(|i| i64::from(set.label(i))).collect();
    assert_eq!(targets, labels);
    for (k, &p) in set.pixels()[..5 * 784].iter().enumerate() {
        let expected = (f32::from(p) / 255.0 - 0.5) / 0.5;
        assert!((images[k] - expected).abs() < 1e-6, "value {k}");
    }
    assert!(images.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn fast_path_matches_the_batcher_on_rgb_images() {
    let device = Device::default();
    let pixels: Vec<u8> = (0..4 * 3 * 32 * 32).map(|i| (i * 31 % 256) as u8).collect();
    let set = ImageSet::new(pixels, vec![3, 1, 4, 1], [3, 32, 32], 10).unwrap();
    let norm = Normalization::cifar10();
    let indices = [2, 0, 2];
    let fast = batch_from_indices(&set, &indices, &norm, &device);
    assert_eq!(fast.images.dims(), [3, 3, 32, 32]);
    let items = indices.iter().map(|&i| set.get(i).unwrap()).collect();
    let slow = ImageBatcher::new(norm.clone()).batch(items, &device);
    let (fast_images, fast_targets) = floats(&fast);
    assert_eq!((fast_images.clone(), fast_targets.clone()), floats(&slow));
    assert_eq!(fast_targets, [4, 3, 4]);
    assert_eq!(fast_images, normalized_pixels(&set, &indices, &norm));
    // Green channel (1) of image 2, pixel 10.
    let p = set.image(2)[1024 + 10];
    let expected = (f32::from(p) / 255.0 - 0.4822) / 0.2435;
    assert!((fast_images[1024 + 10] - expected).abs() < 1e-6);
}

#[test]
fn augmented_batches_keep_shape_and_are_seeded() {
    let device = Device::default();
    let pixels: Vec<u8> = (0..2 * 3 * 32 * 32).map(|i| (i % 200 + 1) as u8).collect();
    let set = ImageSet::new(pixels, vec![0, 9], [3, 32, 32], 10).unwrap();
    let norm = Normalization::cifar10();
    let run = |seed| {
        let mut r = rng(seed);
        let batch =
            augmented_batch_from_indices(&set, &[0, 1], &norm, &CropFlip::CIFAR10, &mut r, &device);
        assert_eq!(batch.images.dims(), [2, 3, 32, 32]);
        floats(&batch)
    };
    assert_eq!(run(4), run(4));
    assert_eq!(run(4).1, [0, 9]);
    let plain = normalized_pixels(&set, &[0, 1], &norm);
    assert!(
        (0..8).any(|s| run(s).0 != plain),
        "some draw must change the images"
    );
}

#[test]
#[should_panic(expected = "channels")]
fn fast_path_refuses_a_normalisation_of_other_channels() {
    let set = synthetic::generate(2, 0, 1).train;
    batch_from_indices(&set, &[0], &Normalization::cifar10(), &Device::default());
}
