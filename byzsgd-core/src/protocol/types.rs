//! What the protocol's state machines exchange with their runtime.

use std::sync::Arc;

use super::buffer::Refused;
use super::filters::Filter;

/// A flat vector (model or gradient), shared rather than copied when broadcast.
pub type Vector = Arc<Vec<f32>>;

/// Shared vectors as slices, to aggregate where they lie
/// ([`Rows::scattered`](crate::Rows::scattered)).
pub(crate) fn slices(vectors: &[Vector]) -> Vec<&[f32]> {
    vectors.iter().map(|v| v.as_slice()).collect()
}

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
    /// "Send me again what you sent me for `step`": a worker asks a server for its model of
    /// `step` (synchronous mode: one server per pull; any mode after a loss or a restart; a
    /// server at a later step answers with its current model); a server asks a worker for its
    /// gradient of `step`, or a replica for its gather model of `step`. Answered at most once per
    /// sender and step (until the sender reconnects).
    Pull {
        /// The step asked for.
        step: u64,
    },
    /// A lagging or restarted node asks a replica for its current state.
    CatchUp {
        /// The step the asking node is at.
        step: u64,
    },
    /// A replica's answer to [`Message::CatchUp`]: where it is and its model there.
    State {
        /// Its step.
        step: u64,
        /// Whether it has updated at `step` and waits for the gather (then `params` is the
        /// updated model), rather than collecting the step's gradients (the step's model).
        gathering: bool,
        /// Its model.
        params: Vector,
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
            | Message::State { step, .. }
            | Message::Pull { step }
            | Message::CatchUp { step } => *step,
        }
    }

    /// The vector it carries, if any.
    pub fn vector(&self) -> Option<&Vector> {
        match self {
            Message::Model { params, .. } => Some(params),
            Message::Gradient { grad, .. } => Some(grad),
            Message::State { params, .. } => Some(params),
            Message::Pull { .. } | Message::CatchUp { .. } => None,
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
    /// A synchronous worker that pulled from every server asks again those that did not answer
    /// (the runtime doubles the wait with each `attempt`: exponential backoff).
    QuorumTimeout {
        /// The step.
        step: u64,
        /// How many times it asked again already.
        attempt: u32,
    },
    /// A synchronous server stops waiting for the gather of `step` and keeps its own model.
    GatherDeadline {
        /// The step.
        step: u64,
    },
    /// An asynchronous node still at `step` reports that its quorum stalled and asks the peers
    /// it waits for to send again (the algorithm itself keeps waiting for `n − f`).
    Stall {
        /// The step.
        step: u64,
    },
}

impl Timer {
    /// The step the timer belongs to.
    pub fn step(&self) -> u64 {
        match *self {
            Timer::StepDeadline { step }
            | Timer::PullTimeout { step, .. }
            | Timer::QuorumTimeout { step, .. }
            | Timer::GatherDeadline { step }
            | Timer::Stall { step } => step,
        }
    }
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
    /// The connection to `peer` was (re)established after a loss: the node sends it again the
    /// current step's messages, which may have been lost with the old connection.
    Connected {
        /// The peer.
        peer: Node,
    },
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
    /// A node waited longer than its stall timer at `step` (asynchronous mode) or its
    /// synchronous wait timed out, and asked its peers again.
    Stalled {
        /// The step.
        step: u64,
        /// What it waits for: `gradients`, `models` or `gather`.
        waiting: &'static str,
        /// How many it has.
        have: usize,
        /// How many it needs.
        need: usize,
    },
    /// A synchronous server's gather deadline passed with fewer than `q_ps` models: it kept its
    /// own model.
    GatherSkipped {
        /// The step.
        step: u64,
        /// Models that arrived (its own included).
        got: usize,
        /// Models a contraction needs.
        needed: usize,
    },
    /// A node that fell behind moved from step `from` to `to`: a server adopting the median of
    /// its peers' states, a worker following `f_ps + 1` servers that vouch for `to`.
    CaughtUp {
        /// The step it was at.
        from: u64,
        /// The step it is at now.
        to: u64,
        /// The servers whose states (or models) it followed.
        peers: Vec<usize>,
    },
    /// A worker computed its gradient of `step` with this loss.
    Loss {
        /// The step.
        step: u64,
        /// The minibatch loss.
        loss: f32,
    },
}

impl Record {
    /// The step it is about (for a catch-up, the step reached).
    pub fn step(&self) -> u64 {
        match self {
            Record::Aggregated { step, .. }
            | Record::Gathered { step, .. }
            | Record::Dropped { step, .. }
            | Record::Model { step, .. }
            | Record::Skipped { step, .. }
            | Record::Rejected { step, .. }
            | Record::AllRejected { step }
            | Record::Stalled { step, .. }
            | Record::GatherSkipped { step, .. }
            | Record::Loss { step, .. } => *step,
            Record::CaughtUp { to, .. } => *to,
        }
    }

    /// What a run counts it as, kind and detail (`("rejected", "distance")`, `("stalled", "")`),
    /// for the records worth counting: rejections, refusals, stalls, skips, catch-ups.
    pub fn counted(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Record::Rejected { filter, .. } => ("rejected", filter.name()),
            Record::Dropped { reason, .. } => ("refused", reason.reason()),
            Record::Stalled { .. } => ("stalled", ""),
            Record::GatherSkipped { .. } => ("gather skipped", ""),
            Record::Skipped { .. } => ("skipped", ""),
            Record::AllRejected { .. } => ("all rejected", ""),
            Record::CaughtUp { .. } => ("caught up", ""),
            _ => return None,
        })
    }

    /// Whether, recorded by `by`, it counts as a rejected message: a reply a worker's filters
    /// rejected, or a malformed message a server refused (not a late or repeated one).
    pub fn rejects(&self, by: Node) -> bool {
        match (by, self) {
            (Node::Worker(_), Record::Rejected { .. }) => true,
            (Node::Server(_), Record::Dropped { reason, .. }) => reason.malformed(),
            _ => false,
        }
    }
}
