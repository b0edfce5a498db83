//! Splitting a data set's indices over workers: IID, or non-IID with Dirichlet(α) label skew.
//!
//! Both are seeded and assign every index to exactly one worker.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::error::{DatasetError, Result};

/// Shuffles `0..len` with `seed` and cuts it into `workers` shards whose sizes differ by at
/// most one (the first `len % workers` shards have one more index).
pub fn shard_iid(len: usize, workers: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if workers == 0 {
        return Err(DatasetError::NoWorkers);
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (base, extra) = (len / workers, len % workers);
    let mut shards = Vec::with_capacity(workers);
    let mut rest = order.as_slice();
    for w in 0..workers {
        let (shard, tail) = rest.split_at(base + usize::from(w < extra));
        shards.push(shard.to_vec());
        rest = tail;
    }
    Ok(shards)
}

/// Non-IID shards: for each class, the proportions of its images that go to each worker are
/// drawn from a symmetric Dirichlet(`alpha`) distribution (normalised Gamma(`alpha`, 1)
/// draws), and the class's shuffled indices are cut at those proportions.
///
/// Small `alpha` (e.g. 0.1) gives each worker few classes; large `alpha` (e.g. 100) is close
/// to IID. Every index is assigned exactly once. When there are at least as many images as
/// workers, no shard is left empty: an empty shard takes one index from the largest shard.
/// Each shard is returned in shuffled order.
///
/// Refuses zero workers, an `alpha` that is not positive and finite, and a label `>= classes`.
pub fn shard_dirichlet(
    labels: &[u8],
    classes: usize,
    workers: usize,
    alpha: f64,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if workers == 0 {
        return Err(DatasetError::NoWorkers);
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(DatasetError::InvalidAlpha { alpha });
    }
    if let Some(i) = labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(DatasetError::Invalid(format!(
            "label {} at index {i} is not below {classes} classes",
            labels[i]
        )));
    }
    let gamma = Gamma::new(alpha, 1.0).map_err(|_| DatasetError::InvalidAlpha { alpha })?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shards = vec![Vec::new(); workers];
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len())
            .filter(|&i| usize::from(labels[i]) == class)
            .collect();
        members.shuffle(&mut rng);
        let proportions = dirichlet(&gamma, workers, &mut rng);
        let mut start = 0;
        let mut cumulative = 0.0;
        for (w, p) in proportions.iter().enumerate() {
            cumulative += p;
            let end = if w + 1 == workers {
                members.len()
            } else {
                ((cumulative * members.len() as f64).round() as usize).clamp(start, members.len())
            };
            shards[w].extend_from_slice(&members[start..end]);
            start = end;
        }
    }
    fill_empty(&mut shards);
    for shard in &mut shards {
        shard.shuffle(&mut rng);
    }
    Ok(shards)
}

/// One draw of a symmetric Dirichlet over `workers` categories from Gamma draws; when every
/// draw underflows to zero (tiny alpha), all the mass goes to one worker picked at random,
/// the distribution's limit.
fn dirichlet(gamma: &Gamma<f64>, workers: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut draws: Vec<f64> = (0..workers).map(|_| gamma.sample(rng)).collect();
    let total: f64 = draws.iter().sum();
    if total > 0.0 && total.is_finite() {
        draws.iter_mut().for_each(|d| *d /= total);
    } else {
        draws.fill(0.0);
        draws[rng.random_range(0..workers)] = 1.0;
    }
    draws
}

/// Moves one index from the largest shard into each empty shard while the largest has two.
fn fill_empty(shards: &mut [Vec<usize>]) {
    while let Some(empty) = shards.iter().position(Vec::is_empty) {
        let largest = (0..shards.len())
            .max_by_key(|&w| (shards[w].len(), std::cmp::Reverse(w)))
            .expect("at least one worker");
        if shards[largest].len() < 2 {
            return;
        }
        let moved = shards[largest].pop().expect("non-empty");
        shards[empty].push(moved);
    }
}

/// For each shard, how many of its indices carry each label: `out[w][c]`.
///
/// # Panics
/// If a shard holds an index outside `labels` or a label `>= classes`.
pub fn shard_histograms(labels: &[u8], classes: usize, shards: &[Vec<usize>]) -> Vec<Vec<usize>> {
    shards
        .iter()
        .map(|shard| {
            let mut histogram = vec![0; classes];
            for &i in shard {
                histogram[usize::from(labels[i])] += 1;
            }
            histogram
        })
        .collect()
}
