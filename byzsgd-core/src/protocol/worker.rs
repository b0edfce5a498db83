//! A correct worker as a state machine.

use std::sync::Arc;

use super::buffer::StepBuffer;
use super::config::ClusterConfig;
use super::types::{Action, Event, Message, Node, Record};
use crate::{Aggregator, MedianConfig, Result, Rows};

/// Worker `id`: takes the median of `q_ps` models of its step, asks for a gradient there, and
/// sends it to every server.
#[derive(Debug)]
pub struct WorkerCore {
    id: usize,
    cluster: ClusterConfig,
    dim: usize,
    median: Box<dyn Aggregator>,
    step: u64,
    computing: bool,
    models: StepBuffer,
}

impl WorkerCore {
    /// Worker `id` of `cluster`, for models of `dim` parameters.
    pub fn new(id: usize, cluster: ClusterConfig, dim: usize) -> Result<Self> {
        cluster.validate()?;
        let window = cluster.gather_period.max(1) * 2 + 2;
        Ok(Self {
            id,
            cluster,
            dim,
            median: Box::new(MedianConfig::new(cluster.q_ps(), 0).init()?),
            step: 0,
            computing: false,
            models: StepBuffer::new(dim, window),
        })
    }

    /// This worker's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The step it is working on.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Handles one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        match event {
            Event::Start => {}
            Event::Received {
                from: Node::Server(s),
                msg: Message::Model { step, params },
            } => {
                if let Err(why) = self.models.insert(s, step, params) {
                    out.push(Action::Record(Record::Dropped {
                        from: Node::Server(s),
                        step,
                        reason: why.reason(),
                    }));
                }
            }
            Event::Received { from, msg } => {
                out.push(Action::Record(Record::Dropped {
                    from,
                    step: msg.step(),
                    reason: "unexpected message",
                }));
            }
            Event::GradientComputed { step, grad, loss } if self.computing && step == self.step => {
                out.push(Action::Record(Record::Loss { step, loss }));
                for s in 0..self.cluster.n_ps {
                    out.push(Action::Send {
                        to: Node::Server(s),
                        msg: Message::Gradient {
                            step,
                            grad: grad.clone(),
                        },
                    });
                }
                self.computing = false;
                self.step += 1;
                self.models.advance(self.step);
            }
            Event::GradientComputed { step, .. } => {
                let from = Node::Worker(self.id);
                out.push(Action::Record(Record::Dropped {
                    from,
                    step,
                    reason: "gradient for a step not asked",
                }));
            }
        }
        self.progress(&mut out)?;
        Ok(out)
    }

    fn progress(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let q = self.cluster.q_ps();
        if !self.computing && self.models.count(self.step) >= q {
            let (rows, _) = self.models.take(self.step, q);
            let params = if q == 1 {
                rows
            } else {
                self.median
                    .aggregate_rows(Rows::new(&rows, q, self.dim)?)?
                    .0
            };
            self.computing = true;
            out.push(Action::ComputeGradient {
                step: self.step,
                params: Arc::new(params),
            });
        }
        Ok(())
    }
}
