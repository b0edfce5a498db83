//! Collects at most one vector per sender and step, for the current step and a bounded window
//! of future ones; older steps are dropped. What one sender can make a node hold is bounded twice:
//! by the window (steps ahead, independent of the gather period) and by a byte budget per sender.
//! Every step a sender tags a message with is noted (saturating, whatever the number), so a node
//! can tell when `k` distinct senders vouch for a later step than its own.

use std::collections::BTreeMap;

use super::types::Vector;

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The sender already holds its byte budget of buffered vectors here.
    OverBudget,
    /// The sender id is not a peer of this node (out of range, or the node itself).
    UnknownSender,
    /// A request (pull, catch-up) this node already answered for this sender and step.
    Repeated,
}

impl Refused {
    /// Whether the message's contents were malformed (as opposed to its timing or its kind):
    /// what the metrics count as refused.
    pub fn malformed(self) -> bool {
        matches!(
            self,
            Refused::NotFinite | Refused::WrongDimension | Refused::UnknownSender
        )
    }
}

impl Refused {
    /// Why, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Late => "late",
            Refused::TooFarAhead => "too far ahead",
            Refused::Duplicate => "second message from this sender for this step",
            Refused::WrongDimension => "wrong dimension",
            Refused::NotFinite => "non-finite values",
            Refused::Unexpected => "unexpected message",
            Refused::NotAsked => "gradient for a step not asked",
            Refused::OverBudget => "over the sender's byte budget",
            Refused::UnknownSender => "unknown sender id",
            Refused::Repeated => "request already answered for this step",
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// How much a node buffers ahead of its step, per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Steps ahead of the current one a message may be tagged with and still be kept. Correct
    /// nodes are at most a step or two apart (a replica cannot finish a step before `q_ps`
    /// replicas sent the step's model); one further behind catches up instead.
    pub window: u64,
    /// Bytes of buffered vectors one sender may hold at a node; at least two vectors (the
    /// current step's and the next) are always allowed.
    pub sender_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            window: 8,
            sender_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// Vectors of `dim` floats one sender may hold.
    pub fn vectors(&self, dim: usize) -> usize {
        (self.sender_bytes / (dim.max(1) * 4)).max(2)
    }
}

/// Per step, the first vector of each sender, in arrival order.
#[derive(Debug, Clone)]
pub struct StepBuffer {
    dim: usize,
    window: u64,
    per_sender: usize,
    current: u64,
    steps: BTreeMap<u64, Vec<(usize, Vector)>>,
    /// Vectors each sender holds here.
    held: Vec<usize>,
    /// The highest step each sender tagged a message with (0: none yet).
    claims: Vec<u64>,
}

impl StepBuffer {
    /// A buffer for vectors of length `dim` from senders `0..senders`, accepting steps
    /// `current..=current + limits.window`.
    pub fn new(dim: usize, senders: usize, limits: Limits) -> Self {
        Self {
            dim,
            window: limits.window,
            per_sender: limits.vectors(dim),
            current: 0,
            steps: BTreeMap::new(),
            held: vec![0; senders],
            claims: vec![0; senders],
        }
    }

    /// Notes that `sender` tagged a message with `step` (whether or not it is kept).
    pub fn claim(&mut self, sender: usize, step: u64) {
        if let Some(c) = self.claims.get_mut(sender) {
            *c = (*c).max(step);
        }
    }

    /// The highest step that at least `k` distinct senders tagged a message with (0 if fewer
    /// than `k` did): with `k = f + 1`, some correct sender reached it.
    pub fn vouched(&self, k: usize) -> u64 {
        if k == 0 || k > self.claims.len() {
            return 0;
        }
        let mut c = self.claims.clone();
        c.sort_unstable_by(|a, b| b.cmp(a));
        c[k - 1]
    }

    /// Stores `v` from `sender` for `step`, or says why not. Vectors are checked for dimension
    /// and finiteness: a correct node never sends NaN, and the robust rules need not see it.
    pub fn insert(&mut self, sender: usize, step: u64, v: Vector) -> Result<(), Refused> {
        if sender >= self.held.len() {
            return Err(Refused::UnknownSender);
        }
        self.claim(sender, step);
        if step < self.current {
            return Err(Refused::Late);
        }
        if step - self.current > self.window {
            return Err(Refused::TooFarAhead);
        }
        if v.len() != self.dim {
            return Err(Refused::WrongDimension);
        }
        if !crate::rows::all_finite(&v) {
            return Err(Refused::NotFinite);
        }
        if self
            .steps
            .get(&step)
            .is_some_and(|slot| slot.iter().any(|(s, _)| *s == sender))
        {
            return Err(Refused::Duplicate);
        }
        if self.held[sender] >= self.per_sender {
            return Err(Refused::OverBudget);
        }
        self.held[sender] += 1;
        self.steps.entry(step).or_default().push((sender, v));
        Ok(())
    }

    /// How many distinct senders have a vector for `step`.
    pub fn count(&self, step: u64) -> usize {
        self.steps.get(&step).map_or(0, |s| s.len())
    }

    /// Whether `sender` has a vector for `step`.
    pub fn has(&self, step: u64, sender: usize) -> bool {
        self.steps
            .get(&step)
            .is_some_and(|slot| slot.iter().any(|(s, _)| *s == sender))
    }

    /// The smallest step after `after` with vectors from at least `q` senders.
    pub fn complete_after(&self, after: u64, q: usize) -> Option<u64> {
        self.steps
            .range(after.saturating_add(1)..)
            .find(|(_, slot)| slot.len() >= q)
            .map(|(s, _)| *s)
    }

    /// The vectors of `step`, `first`'s (if it sent one) then the others in arrival order, up
    /// to `q`, and their senders. The step's vectors are released (shared, never copied: view
    /// them with [`Rows::scattered`](crate::Rows::scattered)).
    pub fn take(&mut self, step: u64, q: usize, first: Option<usize>) -> (Vec<Vector>, Vec<usize>) {
        let mut slot = self.steps.remove(&step).unwrap_or_default();
        for (sender, _) in &slot {
            self.held[*sender] -= 1;
        }
        if let Some(i) = first.and_then(|f| slot.iter().position(|(s, _)| *s == f)) {
            let mine = slot.remove(i);
            slot.insert(0, mine);
        }
        let (from, rows) = slot.into_iter().take(q).unzip();
        (rows, from)
    }

    /// Moves the window to start at `step`, dropping everything older.
    pub fn advance(&mut self, step: u64) {
        self.current = step;
        let kept = self.steps.split_off(&step);
        for slot in self.steps.values() {
            for (sender, _) in slot {
                self.held[*sender] -= 1;
            }
        }
        self.steps = kept;
    }

    /// The first step still accepted.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Vectors held, over every sender (what a flood could grow).
    pub fn held(&self) -> usize {
        self.held.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn budget_window_and_claims_hold_against_one_sender() {
        let limits = Limits {
            window: 3,
            sender_bytes: 3 * 2 * 4,
        };
        let mut b = StepBuffer::new(2, 4, limits);
        let v = Arc::new(vec![1.0f32, 2.0]);
        for s in 0..=3 {
            let r = b.insert(1, s, v.clone());
            assert_eq!(r.is_ok(), s < 3, "step {s}: {r:?}");
        }
        assert_eq!(b.insert(1, 3, v.clone()), Err(Refused::OverBudget));
        assert_eq!(b.insert(1, 4, v.clone()), Err(Refused::TooFarAhead));
        assert_eq!(b.insert(1, u64::MAX, v.clone()), Err(Refused::TooFarAhead));
        assert_eq!(b.insert(4, 0, v.clone()), Err(Refused::UnknownSender));
        assert_eq!(b.held(), 3);
        // One sender's u64::MAX is not vouched for by two.
        assert_eq!(b.vouched(1), u64::MAX);
        assert_eq!(b.vouched(2), 0);
        b.insert(2, 2, v.clone()).unwrap();
        assert_eq!(b.vouched(2), 2);
        b.advance(2);
        assert_eq!(b.held(), 2);
        b.advance(u64::MAX);
        assert_eq!(b.held(), 0);
        assert_eq!(b.insert(1, u64::MAX, v), Ok(()));
    }

    #[test]
    fn take_puts_the_chosen_sender_first() {
        let mut b = StepBuffer::new(1, 3, Limits::default());
        for s in [2, 0, 1] {
            b.insert(s, 0, Arc::new(vec![s as f32])).unwrap();
        }
        let (rows, from) = b.take(0, 2, Some(1));
        let rows: Vec<f32> = rows.iter().map(|r| r[0]).collect();
        assert_eq!((rows, from), (vec![1.0, 2.0], vec![1, 2]));
        assert_eq!(b.held(), 0);
    }
}
