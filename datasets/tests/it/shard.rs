//! IID and Dirichlet shards cover every index exactly once; Dirichlet skew follows alpha.

use byzsgd_datasets::{DatasetError, shard_dirichlet, shard_histograms, shard_iid};
use rand::Rng;

use crate::fixtures::{rng, test_seed};

/// Asserts every index of `0..len` appears in exactly one shard.
fn assert_partition(shards: &[Vec<usize>], len: usize, context: &str) {
    let mut seen = vec![0u32; len];
    for &i in shards.iter().flatten() {
        assert!(i < len, "{context}: index {i} out of range");
        seen[i] += 1;
    }
    if let Some(i) = seen.iter().position(|&n| n != 1) {
        panic!("{context}: index {i} assigned {} times", seen[i]);
    }
}

#[test]
fn iid_shards_partition_with_sizes_within_one() {
    let seed = test_seed("iid_shards_partition_with_sizes_within_one");
    let mut r = rng(seed);
    for _ in 0..50 {
        let len = r.random_range(0..500);
        let workers = r.random_range(1..40);
        let s = r.random();
        let shards = shard_iid(len, workers, s).unwrap();
        let context = format!("len {len}, workers {workers}, shard seed {s}");
        assert_eq!(shards.len(), workers, "{context}");
        assert_partition(&shards, len, &context);
        let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "{context}: sizes {sizes:?}");
        assert_eq!(
            shard_iid(len, workers, s).unwrap(),
            shards,
            "{context}: not deterministic"
        );
    }
    // Shuffled: not the identity order.
    assert_ne!(
        shard_iid(100, 1, seed).unwrap()[0],
        (0..100).collect::<Vec<_>>()
    );
}

#[test]
fn dirichlet_shards_partition_for_any_alpha() {
    let seed = test_seed("dirichlet_shards_partition_for_any_alpha");
    let mut r = rng(seed);
    for _ in 0..30 {
        let len = r.random_range(0..800);
        let classes = r.random_range(1..=10);
        let labels: Vec<u8> = (0..len).map(|_| r.random_range(0..classes) as u8).collect();
        let workers = r.random_range(1..25);
        let alpha = [1e-3, 0.05, 0.5, 1.0, 10.0, 1e4][r.random_range(0..6)];
        let s = r.random();
        let shards = shard_dirichlet(&labels, classes, workers, alpha, s).unwrap();
        let context = format!("len {len}, workers {workers}, alpha {alpha}, shard seed {s}");
        assert_eq!(shards.len(), workers, "{context}");
        assert_partition(&shards, len, &context);
        if len >= workers {
            assert!(
                shards.iter().all(|s| !s.is_empty()),
                "{context}: an empty shard"
            );
        }
        let again = shard_dirichlet(&labels, classes, workers, alpha, s).unwrap();
        assert_eq!(again, shards, "{context}: not deterministic");
    }
}

/// Mean over workers of the number of classes holding 90% of the worker's data.
fn dominant_classes(labels: &[u8], shards: &[Vec<usize>]) -> f64 {
    let histograms = shard_histograms(labels, 10, shards);
    let total: usize = histograms
        .iter()
        .map(|h| {
            let mut h = h.clone();
            h.sort_unstable_by(|a, b| b.cmp(a));
            let n: usize = h.iter().sum();
            let mut kept = 0;
            h.iter()
                .take_while(|&&c| {
                    let before = kept;
                    kept += c;
                    before * 10 < n * 9
                })
                .count()
        })
        .sum();
    total as f64 / shards.len() as f64
}

#[test]
fn small_alpha_skews_labels_large_alpha_does_not() {
    let seed = test_seed("small_alpha_skews_labels_large_alpha_does_not");
    let labels: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
    let skewed = shard_dirichlet(&labels, 10, 20, 0.1, seed).unwrap();
    let mixed = shard_dirichlet(&labels, 10, 20, 1000.0, seed).unwrap();
    let (few, many) = (
        dominant_classes(&labels, &skewed),
        dominant_classes(&labels, &mixed),
    );
    println!("classes holding 90% of a worker's data: alpha 0.1 -> {few}, alpha 1000 -> {many}");
    assert!(
        few < 4.0,
        "alpha 0.1 should give few classes per worker, got {few}"
    );
    assert!(many >= 8.0, "alpha 1000 should be near IID, got {many}");
    // Near IID: every worker has close to 500 images.
    assert!(mixed.iter().all(|s| (400..600).contains(&s.len())));
}

#[test]
fn bad_arguments_are_typed_errors() {
    let labels = [0u8, 1, 2];
    assert!(matches!(shard_iid(10, 0, 1), Err(DatasetError::NoWorkers)));
    assert!(matches!(
        shard_dirichlet(&labels, 3, 0, 1.0, 1),
        Err(DatasetError::NoWorkers)
    ));
    for alpha in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                shard_dirichlet(&labels, 3, 2, alpha, 1),
                Err(DatasetError::InvalidAlpha { .. })
            ),
            "alpha {alpha} accepted"
        );
    }
    assert!(matches!(
        shard_dirichlet(&labels, 2, 2, 1.0, 1),
        Err(DatasetError::Invalid(_))
    ));
}
