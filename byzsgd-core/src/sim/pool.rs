//! The simulator's gradient threads: each holds a fork of the run's [`GradientSource`] and
//! computes the gradients asked of it in order; the engine collects them in event order, so the
//! run is the same whatever thread computes what.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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

/// Threads computing gradients in the order they were asked for.
pub(crate) struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `threads` forks of `source`.
    pub fn new(source: &dyn GradientSource, threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                let mut source = source.fork();
                std::thread::Builder::new()
                    .name(format!("byzsgd-grad-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            let out = source.gradient(job.worker, job.step, &job.params);
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
    pub fn submit(&self, worker: usize, step: u64, params: Vector) -> Reply {
        let (reply, rx) = mpsc::channel();
        let job = Job {
            worker,
            step,
            params,
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
            .map_err(|_| Error::Stalled("a gradient thread died".into()))?
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
