//! What a peer can make a node send: one answer per peer and step, for each kind of request
//! (a pull, a catch-up request, a re-send, a reconnection).

/// Per peer, the step of the last answer given.
#[derive(Debug, Clone)]
pub(super) struct OncePerStep {
    last: Vec<Option<u64>>,
}

impl OncePerStep {
    /// For peers `0..peers`.
    pub fn new(peers: usize) -> Self {
        Self {
            last: vec![None; peers],
        }
    }

    /// Whether `peer` was answered at `step`.
    pub fn done(&self, peer: usize, step: u64) -> bool {
        self.last[peer] == Some(step)
    }

    /// Notes an answer to `peer` at `step`.
    pub fn mark(&mut self, peer: usize, step: u64) {
        self.last[peer] = Some(step);
    }

    /// Notes an answer to `peer` at `step` and says whether it is the first: `false` means the
    /// request is refused.
    pub fn first(&mut self, peer: usize, step: u64) -> bool {
        let first = !self.done(peer, step);
        self.mark(peer, step);
        first
    }

    /// Lets `peer` be answered again at any step.
    pub fn forget(&mut self, peer: usize) {
        self.last[peer] = None;
    }
}
