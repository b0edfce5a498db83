//! The simulator's gradient threads: each holds a fork of the run's [`GradientSource`] and
//! computes the gradients asked of it, earliest needed first; the engine collects them in event
//! order, so the run is the same whatever thread computes what, in whatever order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
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
                            let out = compute(source.as_mut(), &job);
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
        // The lock is never held across a gradient (which could panic), so it is never
        // poisoned; were it, the job's sender is dropped here and `wait` reports it.
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

/// A job's gradient; a panic in the source (a shape error, memory running out) becomes an error
/// for the run rather than a dead thread that every later `wait` would block on.
fn compute(source: &mut dyn GradientSource, job: &Job) -> Result<(Vec<f32>, f32)> {
    let run = AssertUnwindSafe(|| source.gradient(job.worker, job.step, &job.params));
    std::panic::catch_unwind(run).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(Error::Source(format!(
            "worker {}'s gradient of step {} panicked: {what}",
            job.worker, job.step
        )))
    })
}

/// The next job to compute, or `None` once the pool is closed.
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
            // Nobody waits on what is left: the threads stop after their current job.
            queue.closed = true;
            queue.waiting.clear();
        }
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Worker 0's gradient panics; every other worker's is its id.
    struct Fragile;

    impl GradientSource for Fragile {
        fn dim(&self) -> usize {
            1
        }
        fn initial_params(&self) -> Vec<f32> {
            vec![0.0]
        }
        fn gradient(&mut self, worker: usize, _: u64, _: &[f32]) -> Result<(Vec<f32>, f32)> {
            assert!(worker != 0, "worker 0 always panics");
            Ok((vec![worker as f32], 0.0))
        }
        fn evaluate(&mut self, _: &[f32]) -> Result<Option<f64>> {
            Ok(None)
        }
        fn fork(&self) -> Box<dyn GradientSource> {
            Box::new(Fragile)
        }
    }

    /// A panicking gradient is an error for its job, and the pool's one thread goes on serving
    /// the next. Seen failing with the gradient called outside `catch_unwind`: the error said
    /// only that a thread died, and with the one thread gone every later job waits forever.
    #[test]
    fn a_panicking_gradient_is_an_error_and_the_pool_goes_on() {
        let pool = Pool::new(&Fragile, 1);
        let params: Vector = Arc::new(vec![0.0]);
        let err = Pool::wait(pool.submit(0, 3, params.clone(), 1.0)).unwrap_err();
        assert!(
            err.to_string()
                .contains("worker 0's gradient of step 3 panicked"),
            "{err}"
        );
        let next = pool.submit(1, 3, params, 2.0);
        let answer = next
            .recv_timeout(Duration::from_secs(60))
            .expect("an answer");
        assert_eq!(answer.unwrap().0, vec![1.0]);
    }

    /// The earliest due job goes first: with the one thread busy, jobs queued due 3, 1, 2 are
    /// computed 1, 2, 3 (observed through the order of a shared log). Seen failing with the
    /// heap ordered by submission alone.
    #[test]
    fn the_earliest_due_job_is_computed_first() {
        #[derive(Clone)]
        struct Logged(Arc<Mutex<Vec<usize>>>, Arc<Mutex<()>>);
        impl GradientSource for Logged {
            fn dim(&self) -> usize {
                1
            }
            fn initial_params(&self) -> Vec<f32> {
                vec![0.0]
            }
            fn gradient(&mut self, worker: usize, _: u64, _: &[f32]) -> Result<(Vec<f32>, f32)> {
                // The first job holds the thread until the test has queued the rest.
                drop(self.1.lock());
                self.0.lock().unwrap().push(worker);
                Ok((vec![0.0], 0.0))
            }
            fn evaluate(&mut self, _: &[f32]) -> Result<Option<f64>> {
                Ok(None)
            }
            fn fork(&self) -> Box<dyn GradientSource> {
                Box::new(self.clone())
            }
        }
        let source = Logged(Arc::default(), Arc::default());
        let gate = source.1.lock().unwrap();
        let pool = Pool::new(&source, 1);
        let params: Vector = Arc::new(vec![0.0]);
        let first = pool.submit(9, 0, params.clone(), 0.0);
        // Until the thread has taken job 9, the others could overtake it: wait for that.
        while pool.shared.queue.lock().unwrap().waiting.len() == 1 {
            std::thread::yield_now();
        }
        let replies: Vec<Reply> = [(3, 3.0), (1, 1.0), (2, 2.0)]
            .into_iter()
            .map(|(w, due)| pool.submit(w, 0, params.clone(), due))
            .collect();
        drop(gate);
        Pool::wait(first).unwrap();
        for r in replies {
            Pool::wait(r).unwrap();
        }
        assert_eq!(*source.0.lock().unwrap(), vec![9, 1, 2, 3]);
    }
}
