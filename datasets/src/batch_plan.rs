//! [`BatchPlan`]: which indices go in each batch of each epoch, fixed by a seed.
//!
//! Epoch `e` visits the plan's indices in a permutation drawn from its own random stream of the
//! seed (ChaCha8 seeded with `seed`, stream `e`), so any batch of any epoch can be recomputed
//! on its own, and two plans with nearby seeds (say one per worker: `seed + worker`) do not
//! share their epochs' orders.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{DatasetError, Result};

/// Deterministic mini-batches over a fixed list of indices (a worker's shard, a test set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    indices: Vec<usize>,
    batch_size: usize,
    seed: u64,
    drop_last: bool,
}

/// One epoch's order of a [`BatchPlan`], cut into batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochOrder {
    order: Vec<usize>,
    batch_size: usize,
    steps: usize,
}

impl BatchPlan {
    /// A plan over `indices` with batches of `batch_size`, shuffled per epoch from `seed`.
    ///
    /// Keeps the last, smaller batch of an epoch; see [`BatchPlan::drop_last`].
    /// Refuses a batch size of zero.
    pub fn new(indices: Vec<usize>, batch_size: usize, seed: u64) -> Result<Self> {
        if batch_size == 0 {
            return Err(DatasetError::ZeroBatchSize);
        }
        Ok(Self {
            indices,
            batch_size,
            seed,
            drop_last: false,
        })
    }

    /// Whether to leave out an epoch's last batch when it is smaller than the batch size (so
    /// every batch has exactly `batch_size` indices).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The indices the plan draws from, in the order given.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// Batches in one epoch.
    pub fn steps_per_epoch(&self) -> usize {
        if self.drop_last {
            self.indices.len() / self.batch_size
        } else {
            self.indices.len().div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the indices.
    pub fn epoch(&self, epoch: u64) -> EpochOrder {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(epoch);
        let mut order = self.indices.clone();
        order.shuffle(&mut rng);
        EpochOrder {
            order,
            batch_size: self.batch_size,
            steps: self.steps_per_epoch(),
        }
    }

    /// The indices of batch `step` of epoch `epoch` (empty when `step` is past the epoch's
    /// end). Shuffles the whole epoch: to walk an epoch, use [`BatchPlan::epoch`] once.
    pub fn batch(&self, epoch: u64, step: usize) -> Vec<usize> {
        self.epoch(epoch).batch(step).to_vec()
    }

    /// The epoch and step of the `global_step`-th batch, counting from 0 across epochs.
    ///
    /// # Panics
    /// If the plan has no batch (fewer indices than one batch with `drop_last`, or none).
    pub fn position(&self, global_step: u64) -> (u64, usize) {
        let steps = self.steps_per_epoch() as u64;
        assert!(
            steps > 0,
            "a batch plan without batches has no step {global_step}"
        );
        (global_step / steps, (global_step % steps) as usize)
    }

    /// The indices of the `global_step`-th batch, counting from 0 across epochs.
    ///
    /// # Panics
    /// As [`BatchPlan::position`].
    pub fn batch_at(&self, global_step: u64) -> Vec<usize> {
        let (epoch, step) = self.position(global_step);
        self.batch(epoch, step)
    }
}

impl EpochOrder {
    /// Number of batches.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The indices of batch `step` (empty when `step >= steps()`).
    pub fn batch(&self, step: usize) -> &[usize] {
        if step >= self.steps {
            return &[];
        }
        let start = step * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        &self.order[start..end]
    }

    /// The batches in order.
    pub fn batches(&self) -> impl Iterator<Item = &[usize]> {
        (0..self.steps).map(|s| self.batch(s))
    }

    /// The whole epoch's order, including indices a dropped last batch leaves out.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}
