//! Byzantine behaviours, as trait implementations a user can add to (ALGORITHMS.md, Attacks).
//!
//! Worker attacks ([`WorkerAttack`]) craft the vector a Byzantine worker sends from what it can
//! see ([`View`]): its own honest gradient, and, when omniscient (the simulator hands them over),
//! the honest gradients of the step and the rule in use. Server attacks ([`ServerAttack`]) decide
//! the model a Byzantine replica sends to each recipient, or nothing. Data-level attacks (label
//! flipping) say so ([`WorkerAttack::flips_labels`]) and the worker's gradient source acts on
//! them; [`parse_worker_attack`] knows every name, so configuration is checked in one place.

mod adaptive;
mod server;
mod stats;
mod vector;

pub use adaptive::{AdaptiveAlie, AdaptiveFoe};
pub use server::{
    Equivocate, FloodModels, ForgeStep, HonestServer, NonFiniteModel, RandomModel, ReverseModel,
    SERVER_ATTACKS, ServerAttack, Silent, Stale, WrongDimension, parse_server_attack,
};
pub use stats::{alie_default_z, mean_std};
pub use vector::{
    Alie, EquivocateWorker, Flood, Foe, Gaussian, Honest, LabelFlip, Mimic, NonFinite, Reverse,
    SignFlip,
};

use rand_chacha::ChaCha8Rng;

use crate::{Aggregator, Error, Result, Rows};

/// What a Byzantine worker sees when it crafts its vector for a step.
#[derive(Debug)]
pub struct View<'a> {
    /// Its own honest gradient of the step (it can always compute one).
    pub own: &'a [f32],
    /// The honest gradients of the step (rows, in worker-id order): every one when omniscient
    /// (simulator), or only estimates from its own data otherwise.
    pub honest: Rows<'a>,
    /// The rule the servers use, for adaptive attacks.
    pub rule: Option<&'a dyn Aggregator>,
    /// Number of Byzantine workers sending the same vector.
    pub byzantine: usize,
    /// Workers in the cluster (`n_w`), for attacks whose strength depends on it (ALIE's `z`).
    pub workers: usize,
    /// Seeded randomness.
    pub rng: &'a mut ChaCha8Rng,
}

/// A Byzantine worker's behaviour.
pub trait WorkerAttack: Send + std::fmt::Debug {
    /// Name with parameters, e.g. `alie:1.5`.
    fn name(&self) -> String;

    /// The vector to send this step.
    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32>;

    /// Whether the attack acts on the data rather than on vectors: the worker's gradient source
    /// trains on flipped labels (`label 9 − y`) and `craft` sends that gradient unchanged.
    fn flips_labels(&self) -> bool {
        false
    }

    /// Whether `craft` always returns the worker's own gradient unchanged (`none`, and the data
    /// attacks, see [`flips_labels`](Self::flips_labels)): a runtime then sends that gradient as
    /// it is, without a copy and without gathering what the honest workers sent.
    fn sends_own(&self) -> bool {
        self.flips_labels()
    }

    /// Whether each server gets its own vector (`craft` is called once per recipient): an
    /// equivocating worker.
    fn per_recipient(&self) -> bool {
        false
    }

    /// The step tags the vector of `step` goes out with (`step` itself by default): an attack
    /// that lies about steps, or floods, sends it under several.
    fn tags(&mut self, step: u64) -> Vec<u64> {
        vec![step]
    }
}

/// Every worker attack's name and parameters, as `--attack` lists them.
pub const WORKER_ATTACKS: &str = "none, alie[:z|:auto], foe[:eps|:auto], signflip, \
     reverse[:scale], gaussian[:sigma], labelflip, mimic, nan, inf, equivocate[:scale], flood";

/// A worker attack by name: `none` (follows the protocol: the honest baseline with the same
/// quorums), `alie[:z|:auto]`, `foe[:eps|:auto]`, `signflip`, `reverse[:scale]`,
/// `gaussian[:sigma]`, `mimic`, `nan`, `inf`, `equivocate[:scale]` (a different vector to each
/// server), `flood` (its gradient under every step of the next 64 and `u64::MAX`), and
/// `labelflip` ([`LabelFlip`], which acts on the worker's data: see
/// [`WorkerAttack::flips_labels`]).
pub fn parse_worker_attack(spec: &str) -> Result<Box<dyn WorkerAttack>> {
    let (name, arg) = spec
        .split_once(':')
        .map_or((spec, None), |(n, a)| (n, Some(a)));
    let num = |default: f32| -> Result<f32> {
        match arg {
            None => Ok(default),
            Some(a) => a
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::Config(format!("attack {spec:?}: {a:?} is not a finite number"))
                }),
        }
    };
    let none = |what: Box<dyn WorkerAttack>| -> Result<Box<dyn WorkerAttack>> {
        match arg {
            None => Ok(what),
            Some(a) => Err(Error::Config(format!(
                "attack {name:?} takes no parameter, got {a:?}"
            ))),
        }
    };
    Ok(match (name, arg) {
        ("alie", Some("auto")) => Box::new(AdaptiveAlie::default()),
        ("foe", Some("auto")) => Box::new(AdaptiveFoe::default()),
        ("alie", _) => Box::new(Alie {
            z: arg.map(|_| num(0.0)).transpose()?,
        }),
        ("foe", _) => Box::new(Foe { eps: num(0.1)? }),
        ("reverse", _) => Box::new(Reverse { scale: num(100.0)? }),
        ("gaussian", _) => Box::new(Gaussian { sigma: num(200.0)? }),
        ("none", _) => none(Box::new(Honest))?,
        ("signflip", _) => none(Box::new(SignFlip))?,
        ("mimic", _) => none(Box::new(Mimic))?,
        ("nan", _) => none(Box::new(NonFinite(f32::NAN)))?,
        ("inf", _) => none(Box::new(NonFinite(f32::INFINITY)))?,
        ("labelflip", _) => none(Box::new(LabelFlip))?,
        ("equivocate", _) => Box::new(EquivocateWorker { scale: num(1.0)? }),
        ("flood", _) => none(Box::new(Flood))?,
        _ => {
            return Err(Error::Config(format!(
                "unknown worker attack {spec:?}; known: {WORKER_ATTACKS}"
            )));
        }
    })
}
