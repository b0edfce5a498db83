//! A node's whole state as plain data: what a runtime writes to disk, and restores after a
//! restart (the node then rejoins through catch-up, see [`ServerCore`](super::ServerCore)).

use serde::{Deserialize, Serialize};

/// A server replica's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSnapshot {
    /// Its id.
    pub id: usize,
    /// Its step.
    pub step: u64,
    /// Whether it had updated and was waiting for the gather.
    pub gathering: bool,
    /// Its parameters.
    pub params: Vec<f32>,
    /// The model at the start of the step (what its pulls get).
    pub step_model: Vec<f32>,
    /// The update's own state ([`Update::state`](super::Update::state)).
    pub update: Vec<f32>,
}

/// The model a synchronous worker last accepted, and what it computed and sent there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    /// The step.
    pub step: u64,
    /// The model.
    pub theta: Vec<f32>,
    /// The raw gradient there.
    pub grad: Vec<f32>,
    /// The vector sent for it (the gradient, or the velocity with momentum).
    pub sent: Vec<f32>,
}

/// The synchronous filters' history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FilterState {
    /// The last accepted model.
    pub last: Option<Accepted>,
    /// The measured Lipschitz values, oldest first.
    pub ks: Vec<f64>,
}

/// A worker's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSnapshot {
    /// Its id.
    pub id: usize,
    /// Its step.
    pub step: u64,
    /// Its momentum velocity, once it has one.
    pub velocity: Option<Vec<f32>>,
    /// Its last sent gradient (or velocity) and the step it was for.
    pub last_sent: Option<(u64, Vec<f32>)>,
    /// The filters' history (synchronous mode).
    pub filters: FilterState,
}
