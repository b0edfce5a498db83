//! The synthetic set: deterministic, balanced, learnable but not trivially.

use byzsgd_datasets::synthetic::{
    self, SYNTHETIC_CIFAR_SHAPE, SYNTHETIC_CLASSES, SYNTHETIC_SHAPE, SyntheticConfig,
};

use crate::fixtures::test_seed;

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = synthetic::generate(300, 100, 42);
    let b = synthetic::generate(300, 100, 42);
    assert_eq!(a, b);
    let c = synthetic::generate(300, 100, 43);
    assert_ne!(a.train.pixels(), c.train.pixels());
    assert_ne!(a.test.pixels(), c.test.pixels());
    // The test set does not depend on how many training images are drawn.
    assert_eq!(synthetic::generate(50, 100, 42).test, a.test);
    // Pinned bytes: generation must not change silently (a new generator updates these).
    let sum: u64 = a.train.pixels().iter().map(|&p| u64::from(p)).sum();
    assert_eq!(sum, 16_637_363, "pixel sum of seed 42");
    assert_eq!(a.train.labels()[..8], [8, 6, 2, 0, 4, 3, 5, 2]);
}

#[test]
fn configuration_is_checked_and_used() {
    let base = SyntheticConfig::default();
    assert_eq!(
        base.generate(20, 5, 9).unwrap(),
        synthetic::generate(20, 5, 9)
    );
    for bad in [
        SyntheticConfig { blobs: 0, ..base },
        SyntheticConfig {
            max_shift: -1,
            ..base
        },
        SyntheticConfig {
            noise_std: f32::NAN,
            ..base
        },
        SyntheticConfig {
            noise_std: -1.0,
            ..base
        },
        SyntheticConfig {
            max_mix: 1.0,
            ..base
        },
        SyntheticConfig {
            shape: [0, 28, 28],
            ..base
        },
        SyntheticConfig {
            shape: [3, 32, 28],
            ..base
        },
        SyntheticConfig {
            shape: [1, 4, 4],
            ..base
        },
    ] {
        assert!(bad.generate(10, 0, 1).is_err(), "{bad:?} accepted");
    }
    // Without noise, shift or mixing, every sample of a class is its prototype up to contrast:
    // nearest class mean is then perfect.
    let clean = SyntheticConfig {
        noise_std: 0.0,
        max_shift: 0,
        max_mix: 0.0,
        ..base
    };
    assert_eq!(
        nearest_mean_accuracy(&clean.generate(200, 100, 3).unwrap()),
        1.0
    );
}

#[test]
fn shape_and_balance() {
    let split = synthetic::generate(1003, 250, test_seed("shape_and_balance"));
    assert_eq!(split.train.shape(), SYNTHETIC_SHAPE);
    assert_eq!(split.train.num_classes(), SYNTHETIC_CLASSES);
    assert_eq!(split.train.len(), 1003);
    assert_eq!(
        split.train.class_histogram(),
        [101, 101, 101, 100, 100, 100, 100, 100, 100, 100]
    );
    assert_eq!(split.test.class_histogram(), [25; 10]);
    // Labels are shuffled, not in class order.
    let labels = split.train.labels();
    assert!(
        labels
            .windows(2)
            .filter(|w| w[1] == (w[0] + 1) % 10)
            .count()
            < 500
    );
    // Pixels use the range: dark background and bright blobs.
    let pixels = split.train.pixels();
    assert!(pixels.iter().filter(|&&p| p == 0).count() > pixels.len() / 10);
    assert!(pixels.iter().filter(|&&p| p > 200).count() > pixels.len() / 100);
}

/// Accuracy of the nearest class mean (fitted on train) on test: a linear classifier, weaker
/// than the MLP the set is meant for.
fn nearest_mean_accuracy(split: &byzsgd_datasets::Split) -> f64 {
    let d = split.train.image_len();
    let mut means = vec![vec![0.0f64; d]; 10];
    let counts = split.train.class_histogram();
    for i in 0..split.train.len() {
        let c = usize::from(split.train.label(i));
        for (m, &p) in means[c].iter_mut().zip(split.train.image(i)) {
            *m += f64::from(p) / counts[c] as f64;
        }
    }
    let correct = (0..split.test.len())
        .filter(|&i| {
            let image = split.test.image(i);
            let distance = |m: &Vec<f64>| -> f64 {
                m.iter()
                    .zip(image)
                    .map(|(a, &p)| (a - f64::from(p)).powi(2))
                    .sum()
            };
            let best = (0..10)
                .min_by(|&a, &b| distance(&means[a]).total_cmp(&distance(&means[b])))
                .unwrap();
            best == usize::from(split.test.label(i))
        })
        .count();
    correct as f64 / split.test.len() as f64
}

#[test]
fn learnable_but_not_trivial() {
    let seed = test_seed("learnable_but_not_trivial");
    let split = synthetic::generate(2000, 500, seed);
    let accuracy = nearest_mean_accuracy(&split);
    println!("nearest-class-mean test accuracy: {accuracy:.3}");
    assert!(
        accuracy > 0.6,
        "too hard: nearest class mean gets {accuracy:.3}"
    );
    assert!(
        accuracy < 0.99,
        "too easy: nearest class mean gets {accuracy:.3}"
    );
}

/// The CIFAR-shaped set: colour images of CIFAR-10's shape, deterministic, balanced, and
/// learnable but not trivially, like the grayscale one; its channels differ (each blob has a
/// colour), so it is no grayscale image repeated three times.
#[test]
fn cifar_shaped_colour_set() {
    let a = synthetic::generate_cifar(200, 100, 5);
    assert_eq!(a, synthetic::generate_cifar(200, 100, 5));
    assert_ne!(
        a.train.pixels(),
        synthetic::generate_cifar(200, 100, 6).train.pixels()
    );
    assert_eq!(a.train.shape(), SYNTHETIC_CIFAR_SHAPE);
    assert_eq!(a.train.image_len(), 3 * 32 * 32);
    assert_eq!(a.test.class_histogram(), [10; 10]);
    let plane = 32 * 32;
    let differ = (0..a.train.len())
        .filter(|&i| {
            let img = a.train.image(i);
            img[..plane] != img[plane..2 * plane] && img[plane..2 * plane] != img[2 * plane..]
        })
        .count();
    assert_eq!(differ, a.train.len(), "channels equal in some image");
    let seed = test_seed("cifar_shaped_colour_set");
    let accuracy = nearest_mean_accuracy(&synthetic::generate_cifar(2000, 500, seed));
    println!("CIFAR-shaped: nearest-class-mean test accuracy {accuracy:.3}");
    assert!(accuracy > 0.6 && accuracy < 0.99, "{accuracy:.3}");
}
