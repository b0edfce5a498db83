//! Batches are fixed by the seed, each epoch is a permutation, epochs differ.

use byzsgd_datasets::{BatchPlan, DatasetError};

use crate::fixtures::test_seed;

#[test]
fn epochs_are_seeded_permutations_cut_into_batches() {
    let seed = test_seed("epochs_are_seeded_permutations_cut_into_batches");
    let indices: Vec<usize> = (100..203).collect();
    let plan = BatchPlan::new(indices.clone(), 10, seed).unwrap();
    assert_eq!(plan.steps_per_epoch(), 11);
    let epoch0 = plan.epoch(0);
    let mut sorted = epoch0.order().to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, indices);
    let sizes: Vec<usize> = epoch0.batches().map(<[usize]>::len).collect();
    assert_eq!(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    assert_eq!(epoch0.batches().flatten().count(), 103);
    assert_ne!(epoch0.order(), indices.as_slice(), "shuffled");
    assert_ne!(
        plan.epoch(1).order(),
        epoch0.order(),
        "each epoch reshuffles"
    );
    // Deterministic: a new plan with the same seed gives the same batches.
    let again = BatchPlan::new(indices.clone(), 10, seed).unwrap();
    assert_eq!(again.batch(3, 4), plan.epoch(3).batch(4));
    assert_ne!(
        BatchPlan::new(indices, 10, seed.wrapping_add(1))
            .unwrap()
            .epoch(0),
        epoch0
    );
}

#[test]
fn neighbouring_seeds_do_not_share_shifted_epochs() {
    let indices: Vec<usize> = (0..50).collect();
    let a = BatchPlan::new(indices.clone(), 5, 7).unwrap();
    let b = BatchPlan::new(indices, 5, 8).unwrap();
    for epoch in 0..4 {
        assert_ne!(a.epoch(epoch + 1).order(), b.epoch(epoch).order());
    }
}

#[test]
fn global_steps_wrap_into_epochs() {
    let plan = BatchPlan::new((0..25).collect(), 10, 1).unwrap();
    assert_eq!(plan.position(0), (0, 0));
    assert_eq!(plan.position(2), (0, 2));
    assert_eq!(plan.position(3), (1, 0));
    assert_eq!(plan.batch_at(7), plan.batch(2, 1));
    assert!(plan.batch(0, 3).is_empty());
}

#[test]
fn drop_last_keeps_only_full_batches() {
    let plan = BatchPlan::new((0..25).collect(), 10, 1)
        .unwrap()
        .drop_last(true);
    assert_eq!(plan.steps_per_epoch(), 2);
    assert!(plan.epoch(0).batches().all(|b| b.len() == 10));
    assert_eq!(plan.position(2), (1, 0));
}

#[test]
fn zero_batch_size_is_refused() {
    assert!(matches!(
        BatchPlan::new(vec![1, 2], 0, 1),
        Err(DatasetError::ZeroBatchSize)
    ));
}
