//! Collects at most one vector per sender and step, for the current step and a bounded window
//! of future ones; older steps are dropped.

use std::collections::BTreeMap;

use super::types::Vector;

/// Why [`StepBuffer::insert`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its step is already over.
    Late,
    /// Its step is beyond the window.
    TooFarAhead,
    /// The sender already sent one for this step.
    Duplicate,
    /// Its length is not the model dimension.
    WrongDimension,
    /// It holds NaN or ±Inf.
    NotFinite,
    /// A message this node never takes (e.g. a gradient sent to a worker).
    Unexpected,
    /// A computed gradient for a step the worker did not ask for.
    NotAsked,
}

impl Refused {
    /// Whether the message's contents were malformed (as opposed to its timing or its kind):
    /// what the metrics count as refused.
    pub fn malformed(self) -> bool {
        matches!(self, Refused::NotFinite | Refused::WrongDimension)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Late => "late",
            Refused::TooFarAhead => "too far ahead",
            Refused::Duplicate => "second message from this sender for this step",
            Refused::WrongDimension => "wrong dimension",
            Refused::NotFinite => "non-finite values",
            Refused::Unexpected => "unexpected message",
            Refused::NotAsked => "gradient for a step not asked",
        })
    }
}

/// Per step, the first vector of each sender, in arrival order.
#[derive(Debug, Clone)]
pub struct StepBuffer {
    dim: usize,
    window: u64,
    current: u64,
    steps: BTreeMap<u64, Vec<(usize, Vector)>>,
}

impl StepBuffer {
    /// A buffer for vectors of length `dim`, accepting steps `current..=current + window`.
    pub fn new(dim: usize, window: u64) -> Self {
        Self {
            dim,
            window,
            current: 0,
            steps: BTreeMap::new(),
        }
    }

    /// Stores `v` from `sender` for `step`, or says why not. Vectors are checked for dimension
    /// and finiteness: a correct node never sends NaN, and the robust rules need not see it.
    pub fn insert(&mut self, sender: usize, step: u64, v: Vector) -> Result<(), Refused> {
        if step < self.current {
            return Err(Refused::Late);
        }
        if step > self.current + self.window {
            return Err(Refused::TooFarAhead);
        }
        if v.len() != self.dim {
            return Err(Refused::WrongDimension);
        }
        if !crate::rows::all_finite(&v) {
            return Err(Refused::NotFinite);
        }
        let slot = self.steps.entry(step).or_default();
        if slot.iter().any(|(s, _)| *s == sender) {
            return Err(Refused::Duplicate);
        }
        slot.push((sender, v));
        Ok(())
    }

    /// How many distinct senders have a vector for `step`.
    pub fn count(&self, step: u64) -> usize {
        self.steps.get(&step).map_or(0, |s| s.len())
    }

    /// The first `q` vectors of `step` to arrive, stacked row-major, and their senders.
    pub fn take(&mut self, step: u64, q: usize) -> (Vec<f32>, Vec<usize>) {
        let slot = self.steps.remove(&step).unwrap_or_default();
        let mut rows = Vec::with_capacity(q * self.dim);
        let mut from = Vec::with_capacity(q);
        for (sender, v) in slot.into_iter().take(q) {
            rows.extend_from_slice(&v);
            from.push(sender);
        }
        (rows, from)
    }

    /// Moves the window to start at `step`, dropping everything older.
    pub fn advance(&mut self, step: u64) {
        self.current = step;
        self.steps = self.steps.split_off(&step);
    }

    /// The first step still accepted.
    pub fn current(&self) -> u64 {
        self.current
    }
}
