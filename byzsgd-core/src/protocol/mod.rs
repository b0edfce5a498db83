//! The ByzSGD protocol as sans-IO state machines: [`ServerCore`] and [`WorkerCore`] take an
//! [`Event`] and return the [`Action`]s to carry out. No runtime, sockets or clocks inside: the
//! in-process simulator and the TCP runtime drive the same machines, and tests assert on actions.
//!
//! Asynchronous ByzSGD (ALGORITHMS.md), correct server `j` at step `t`: send `(t, θ_j)` to every
//! worker; collect the first `q_w = n_w - f_w` gradients tagged `t` from distinct workers;
//! aggregate them with the rule (MDA by default) and update; every `T` steps gather: send `θ_j` to
//! every server, collect `q_ps = n_ps - f_ps` models tagged `t` (its own included) and take their
//! contraction (coordinate-wise median: Distributed Median Contraction). A correct worker at step
//! `t` collects `q_ps` models tagged `t`, takes their coordinate-wise median, computes a gradient
//! there and sends it to every server. Vanilla mode is one trusted server averaging all `n_w`
//! gradients, the baseline overheads are measured against.
//!
//! Synchronous ByzSGD: a worker pulls ([`Message::Pull`]) from one server per scatter step and
//! checks the reply with the Lipschitz and distance [`Filters`]; a rejected reply (or a pull
//! timeout) makes it ask the next server; after a gather it pulls from all. Servers wait for all
//! `n_w` gradients up to a step deadline ([`Timer`]), then aggregate what arrived, or skip the
//! update when fewer arrived than the rule needs. Deadlines are [`Action::SetTimer`]s: the
//! runtime chooses their durations.
//!
//! Messages are tagged `(step, sender)`; the sender is who the transport says it is, and a sender
//! outside the cluster (or the node itself) is refused. One message per sender and step counts;
//! late messages are dropped, future ones buffered within a window of steps and a byte budget per
//! sender ([`Limits`]). Every wait has a way out: synchronous waits have deadlines
//! ([`Timer`]); an asynchronous quorum waits for `n − f` as the algorithm says, reports a stall
//! after a while ([`Timer::Stall`]) and asks the missing peers again. A node that fell behind
//! catches up from `f + 1` vouching peers (see [`ServerCore`] and [`WorkerCore`]), a reconnected
//! peer is sent the current step's messages again ([`Event::Connected`]), and a node's whole state
//! is a serde snapshot ([`ServerSnapshot`], [`WorkerSnapshot`]).

mod buffer;
mod byzantine;
mod config;
mod filters;
mod once;
mod server;
mod snapshot;
mod types;
mod update;
mod worker;

pub use buffer::{Limits, Refused, StepBuffer};
pub use byzantine::{ByzantineServer, ByzantineWorker};
pub use config::{ClusterConfig, MAX_GATHER_PERIOD, Mode};
pub use filters::{Filter, FilterConfig, Filters, Rejection};
pub use server::ServerCore;
pub use snapshot::{Accepted, FilterState, ServerSnapshot, WorkerSnapshot};
pub use types::{Action, Event, Message, Node, Record, Timer, Vector};
pub use update::{PlainSgd, Update};
pub use worker::WorkerCore;
