//! Where gradients come from: an [`Oracle`] computes worker `w`'s gradient of step `t` at given
//! parameters. The simulator forks one per gradient thread; a computation depends only on its
//! inputs, so the run is the same whatever thread computes what.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use byzsgd_core::protocol::Vector;

use crate::{BurnError, Result};

/// A gradient and test-accuracy source for the simulator.
pub trait Oracle: Send {
    /// The number of parameters.
    fn dim(&self) -> usize;

    /// The initial parameters every correct server starts from.
    fn initial_params(&self) -> Vec<f32>;

    /// Worker `worker`'s gradient and loss on its minibatch of `step`, at `params`; with labels
    /// flipped (`label 9 − y`) when `flip`.
    fn gradient(
        &mut self,
        worker: usize,
        step: u64,
        params: &[f32],
        flip: bool,
    ) -> Result<(Vec<f32>, f32)>;

    /// Test accuracy at `params`, if there is a test set.
    fn evaluate(&mut self, params: &[f32]) -> Result<Option<f64>>;

    /// An independent copy for another thread.
    fn fork(&self) -> Box<dyn Oracle>;
}

/// Where a submitted gradient's answer comes from.
pub(crate) type Reply = mpsc::Receiver<Result<(Vec<f32>, f32)>>;

struct Job {
    worker: usize,
    step: u64,
    params: Vector,
    flip: bool,
    reply: mpsc::Sender<Result<(Vec<f32>, f32)>>,
}

/// Threads computing gradients in the order they were asked for.
pub(crate) struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `threads` forks of `oracle`.
    pub fn new(oracle: &dyn Oracle, threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                let mut oracle = oracle.fork();
                std::thread::Builder::new()
                    .name(format!("byzsgd-grad-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            let out = oracle.gradient(job.worker, job.step, &job.params, job.flip);
                            let _ = job.reply.send(out);
                        }
                    })
                    .expect("spawning a gradient thread")
            })
            .collect();
        Self {
            jobs: Some(tx),
            threads,
        }
    }

    /// Starts computing; the answer comes from [`Pool::wait`].
    pub fn submit(&self, worker: usize, step: u64, params: Vector, flip: bool) -> Reply {
        let (reply, rx) = mpsc::channel();
        let job = Job {
            worker,
            step,
            params,
            flip,
            reply,
        };
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        rx
    }

    /// The answer of a submitted job.
    pub fn wait(reply: Reply) -> Result<(Vec<f32>, f32)> {
        reply
            .recv()
            .map_err(|_| BurnError::Stalled("a gradient thread died".into()))?
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
