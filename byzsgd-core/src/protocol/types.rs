//! What the protocol's state machines exchange with their runtime.

use std::sync::Arc;

use super::buffer::Refused;
use super::filters::Filter;

/// A flat vector (model or gradient), shared rather than copied when broadcast.
pub type Vector = Arc<Vec<f32>>;

/// A node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// Parameter-server replica `i` (`0..n_ps`).
    Server(usize),
    /// Worker `i` (`0..n_w`).
    Worker(usize),
}

/// A protocol message. The sender is not a field: it comes from the (authenticated) channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A server's model at the start of `step` (to workers), or at the gather of `step` (to
    /// servers).
    Model {
        /// The step the model is for.
        step: u64,
        /// The flat parameters.
        params: Vector,
    },
    /// A worker asks a server for its model of `step` (synchronous mode: one server per pull).
    Pull {
        /// The step the worker is at.
        step: u64,
    },
    /// A worker's gradient for `step`.
    Gradient {
        /// The step the gradient was computed at.
        step: u64,
        /// The flat gradient.
        grad: Vector,
    },
}

impl Message {
    /// The step the message is tagged with.
    pub fn step(&self) -> u64 {
        match self {
            Message::Model { step, .. }
            | Message::Gradient { step, .. }
            | Message::Pull { step } => *step,
        }
    }

    /// The vector it carries, if any.
    pub fn vector(&self) -> Option<&Vector> {
        match self {
            Message::Model { params, .. } => Some(params),
            Message::Gradient { grad, .. } => Some(grad),
            Message::Pull { .. } => None,
        }
    }
}

/// A deadline a node asked its runtime for (synchronous mode); the runtime picks the duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A server stops waiting for the gradients of `step` and aggregates what it has.
    StepDeadline {
        /// The step.
        step: u64,
    },
    /// A worker stops waiting for the reply to its `attempt`-th pull of `step`.
    PullTimeout {
        /// The step.
        step: u64,
        /// Which pull of the step (0 = the first server asked).
        attempt: usize,
    },
}

/// Something that happened to a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run begins.
    Start,
    /// `msg` arrived from `from`.
    Received {
        /// The sender, as authenticated by the transport.
        from: Node,
        /// The message.
        msg: Message,
    },
    /// The runtime finished a gradient a worker asked for.
    GradientComputed {
        /// The step it was asked for.
        step: u64,
        /// The flat gradient.
        grad: Vector,
        /// The minibatch loss.
        loss: f32,
    },
    /// A deadline set with [`Action::SetTimer`] passed.
    Timer(Timer),
}

/// What a node asks its runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Deliver `msg` to `to`.
    Send {
        /// The recipient.
        to: Node,
        /// The message.
        msg: Message,
    },
    /// Compute the gradient at `params` on this worker's minibatch of `step`, then hand it back
    /// as [`Event::GradientComputed`].
    ComputeGradient {
        /// The step.
        step: u64,
        /// Where to compute it.
        params: Vector,
    },
    /// Deliver [`Event::Timer`] with this timer when its duration has passed.
    SetTimer(Timer),
    /// A fact worth recording (metrics, logs).
    Record(Record),
}

/// Facts a node reports as it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A server aggregated the gradients of `step`; `kept` are worker ids the rule kept.
    Aggregated {
        /// The step.
        step: u64,
        /// Worker ids of the gradients aggregated.
        from: Vec<usize>,
        /// Worker ids the rule kept.
        kept: Vec<usize>,
    },
    /// A server contracted the models of the gather at `step` (DMC).
    Gathered {
        /// The step.
        step: u64,
        /// Server ids whose models entered the contraction.
        from: Vec<usize>,
    },
    /// A message was dropped, and why.
    Dropped {
        /// Its sender.
        from: Node,
        /// Its step.
        step: u64,
        /// Why.
        reason: Refused,
    },
    /// A server finished `step`: its model after the update (`gathered: false`, recorded before a
    /// gather) or after the gather's contraction (`gathered: true`).
    Model {
        /// The step.
        step: u64,
        /// Whether the model is the contraction of a gather.
        gathered: bool,
        /// The model (shared with the messages that carry it).
        params: Vector,
    },
    /// A synchronous server's step deadline passed with fewer gradients than its rule needs: the
    /// update of `step` was skipped.
    Skipped {
        /// The step.
        step: u64,
        /// Gradients that arrived.
        got: usize,
        /// Gradients the rule needs.
        needed: usize,
    },
    /// A synchronous worker rejected the model `server` replied for `step`.
    Rejected {
        /// The step.
        step: u64,
        /// The server whose reply was rejected.
        server: usize,
        /// What rejected it.
        filter: Filter,
        /// The filter's statistic (`k_t`, the distance; 0 for a timeout).
        value: f64,
        /// The threshold it exceeded.
        threshold: f64,
    },
    /// A synchronous worker found every server's reply of `step` rejected and took their median.
    AllRejected {
        /// The step.
        step: u64,
    },
    /// A worker computed its gradient of `step` with this loss.
    Loss {
        /// The step.
        step: u64,
        /// The minibatch loss.
        loss: f32,
    },
}
