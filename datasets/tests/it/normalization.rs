//! Normalisation constants and the u8 -> f32 conversion.

use byzsgd_datasets::{ImageSet, Normalization};

#[test]
fn constants_are_the_published_ones() {
    let cifar = Normalization::cifar10();
    assert_eq!(cifar.mean, [0.4914, 0.4822, 0.4465]);
    assert_eq!(cifar.std, [0.2470, 0.2435, 0.2616]);
    assert_eq!(
        (
            Normalization::mnist().mean[0],
            Normalization::mnist().std[0]
        ),
        (0.1307, 0.3081)
    );
    let fashion = Normalization::fashion_mnist();
    assert_eq!((fashion.mean[0], fashion.std[0]), (0.2860, 0.3530));
    assert_eq!(Normalization::synthetic().channels(), 1);
}

#[test]
fn normalizes_each_channel_with_its_own_statistics() {
    let norm = Normalization::cifar10();
    let pixels: Vec<u8> = [0u8, 255, 128].iter().flat_map(|&p| vec![p; 4]).collect();
    let out = norm.normalize(&pixels, [3, 2, 2]).unwrap();
    let expect = |p: f32, c: usize| (p / 255.0 - norm.mean[c]) / norm.std[c];
    assert!((out[0] - expect(0.0, 0)).abs() < 1e-6);
    assert!((out[0] - (-0.4914 / 0.2470)).abs() < 1e-5);
    assert!((out[5] - expect(255.0, 1)).abs() < 1e-6);
    assert!((out[11] - expect(128.0, 2)).abs() < 1e-6);
    assert!(
        norm.normalize(&pixels, [1, 3, 4]).is_err(),
        "channel count must match"
    );
    assert!(
        norm.normalize(&pixels[1..], [3, 2, 2]).is_err(),
        "one whole image"
    );
}

#[test]
fn from_data_fits_mean_and_std() {
    // Channel 0 is 0 or 255 half the time (mean 0.5, std 0.5); channel 1 is constant 51.
    let mut pixels = Vec::new();
    for i in 0..10u8 {
        pixels.extend([if i % 2 == 0 { 0 } else { 255 }; 4]);
        pixels.extend([51; 4]);
    }
    let set = ImageSet::new(pixels, vec![0; 10], [2, 2, 2], 1).unwrap();
    let norm = Normalization::from_data(&set);
    assert!((norm.mean[0] - 0.5).abs() < 1e-6 && (norm.std[0] - 0.5).abs() < 1e-6);
    assert!((norm.mean[1] - 0.2).abs() < 1e-6);
    assert_eq!(norm.std[1], 1.0, "a constant channel is only centred");
}

#[test]
fn invalid_statistics_are_refused() {
    assert!(Normalization::new(vec![0.5], vec![0.0]).is_err());
    assert!(Normalization::new(vec![0.5, 0.5], vec![0.5]).is_err());
    assert!(Normalization::new(vec![], vec![]).is_err());
    assert!(Normalization::new(vec![f32::NAN], vec![1.0]).is_err());
    assert!(Normalization::new(vec![0.5], vec![0.25]).is_ok());
}
