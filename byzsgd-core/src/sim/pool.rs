//! The simulator's gradient threads: each holds a fork of the run's [`GradientSource`] and
//! computes the gradients asked of it, earliest needed first; the engine collects them in event
//! order, so the run is the same whatever thread computes what, in whatever order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::node::GradientSource;
use crate::protocol::Vector;
use crate::{Error, Result};

/// Where a submitted gradient's answer comes from.
pub(crate) type Reply = mpsc::Receiver<Result<(Vec<f32>, f32)>>;

struct Job {
    worker: usize,
    step: u64,
    params: Vector,
    reply: mpsc::Sender<Result<(Vec<f32>, f32)>>,
}

/// A job waiting for a thread, ordered by when the simulation needs its answer (then by
/// submission).
struct Waiting {
    due: f64,
    seq: u64,
    job: Job,
}

impl Ord for Waiting {
    /// Reversed, so that the max-heap pops the earliest `due` first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .due
            .total_cmp(&self.due)
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiting {}

#[derive(Default)]
struct Queue {
    waiting: BinaryHeap<Waiting>,
    submitted: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// Threads computing gradients, the one the simulation will need first first: the engine waits
/// for a gradient when its event's simulated time comes, and in async mode a replica moves on
/// with the first `n_w − f_w` of a step, so those are computed before the rest, which then run
/// while the event loop aggregates.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `threads` forks of `source`.
    pub fn new(source: &dyn GradientSource, threads: usize) -> Self {
        let shared = Arc::new(Shared::default());
        let threads = (0..threads.max(1))
            .map(|i| {
                let shared = shared.clone();
                let mut source = source.fork();
                std::thread::Builder::new()
                    .name(format!("byzsgd-grad-{i}"))
                    .spawn(move || {
                        while let Some(job) = next(&shared) {
                            let out = source.gradient(job.worker, job.step, &job.params);
                            let _ = job.reply.send(out);
                        }
                    })
                    .expect("spawning a gradient thread")
            })
            .collect();
        Self { shared, threads }
    }

    /// Starts computing worker `worker`'s gradient of `step` at `params`, needed at simulated
    /// time `due`; the answer comes from [`Pool::wait`].
    pub fn submit(&self, worker: usize, step: u64, params: Vector, due: f64) -> Reply {
        let (reply, rx) = mpsc::channel();
        let job = Job {
            worker,
            step,
            params,
            reply,
        };
        // A poisoned lock means a gradient thread panicked: the reply's sender is dropped, and
        // `wait` reports the dead thread.
        if let Ok(mut queue) = self.shared.queue.lock() {
            let seq = queue.submitted;
            queue.submitted += 1;
            queue.waiting.push(Waiting { due, seq, job });
            self.shared.ready.notify_one();
        }
        rx
    }

    /// The answer of a submitted job.
    pub fn wait(reply: Reply) -> Result<(Vec<f32>, f32)> {
        reply
            .recv()
            .map_err(|_| Error::Stalled("a gradient thread died".into()))?
    }
}

/// The next job to compute, or `None` once the pool is closed and drained.
fn next(shared: &Shared) -> Option<Job> {
    let mut queue = shared.queue.lock().ok()?;
    loop {
        if let Some(w) = queue.waiting.pop() {
            return Some(w.job);
        }
        if queue.closed {
            return None;
        }
        queue = shared.ready.wait(queue).ok()?;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closed = true;
        }
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
