//! Byzantine parameter-server replicas: what model each recipient gets, if any.

use std::borrow::Cow;
use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use super::vector::normal;
use crate::protocol::Node;
use crate::{Error, Result};

/// A Byzantine replica's behaviour: given the model a correct replica would send, what it sends
/// to `recipient` instead (`None`: nothing).
pub trait ServerAttack: Send + std::fmt::Debug {
    /// Name with parameters.
    fn name(&self) -> String;

    /// The model for `recipient` at `step` (by default the correct one: attacks that lie only
    /// about steps keep it). A model borrowed from `honest` is sent without a copy.
    fn model_for<'a>(
        &mut self,
        recipient: Node,
        honest: &'a [f32],
        step: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        let _ = (recipient, step, rng);
        Some(Cow::Borrowed(honest))
    }

    /// The step tags a model of `step` goes out with (`step` itself by default): an attack that
    /// lies about steps, or floods, sends it under several.
    fn tags(&mut self, step: u64) -> Vec<u64> {
        vec![step]
    }
}

fn rms(v: &[f32]) -> f32 {
    ((v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt()) as f32
}

/// To each recipient its own model `θ + δ_r`, `δ_r` random with per-coordinate scale
/// `scale × rms(θ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Equivocate {
    /// Perturbation scale relative to the model's RMS (1.0 by default).
    pub scale: f32,
}

impl ServerAttack for Equivocate {
    fn name(&self) -> String {
        format!("equivocate:{}", self.scale)
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        _step: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        let s = self.scale * rms(honest).max(1e-3);
        Some(Cow::Owned(
            honest.iter().map(|t| t + s * normal(rng)).collect(),
        ))
    }
}

/// No attack: the model a correct replica sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HonestServer;

impl ServerAttack for HonestServer {
    fn name(&self) -> String {
        "none".into()
    }
}

/// A random model `N(0, rms(θ)²)` per coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomModel;

impl ServerAttack for RandomModel {
    fn name(&self) -> String {
        "random".into()
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        _step: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        let s = rms(honest).max(1e-3);
        Some(Cow::Owned(
            (0..honest.len()).map(|_| s * normal(rng)).collect(),
        ))
    }
}

/// The reversed model `-θ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReverseModel;

impl ServerAttack for ReverseModel {
    fn name(&self) -> String {
        "reverse".into()
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        _step: u64,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        Some(Cow::Owned(honest.iter().map(|t| -t).collect()))
    }
}

/// Replays the model of `age` steps ago (the oldest it has, early on).
#[derive(Debug, Clone, PartialEq)]
pub struct Stale {
    /// How many steps old.
    pub age: usize,
    history: VecDeque<(u64, Vec<f32>)>,
}

impl Stale {
    /// Replays models `age` steps old.
    pub fn new(age: usize) -> Self {
        Self {
            age,
            history: VecDeque::new(),
        }
    }
}

impl ServerAttack for Stale {
    fn name(&self) -> String {
        format!("stale:{}", self.age)
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        step: u64,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        if self.history.back().is_none_or(|(s, _)| *s != step) {
            self.history.push_back((step, honest.to_vec()));
            while self.history.len() > self.age + 1 {
                self.history.pop_front();
            }
        }
        self.history.front().map(|(_, m)| Cow::Owned(m.clone()))
    }
}

/// Sends nothing (a crash).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Silent;

impl ServerAttack for Silent {
    fn name(&self) -> String {
        "silent".into()
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        _honest: &'a [f32],
        _step: u64,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        None
    }
}

/// The correct model under a forged step: `step + ahead` (`forge[:ahead]`, 1000 by default), or
/// `u64::MAX` (`maxstep`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForgeStep {
    /// How far ahead; `u64::MAX` saturates.
    pub ahead: u64,
}

impl ServerAttack for ForgeStep {
    fn name(&self) -> String {
        if self.ahead == u64::MAX {
            "maxstep".into()
        } else {
            format!("forge:{}", self.ahead)
        }
    }

    fn tags(&mut self, step: u64) -> Vec<u64> {
        vec![step.saturating_add(self.ahead)]
    }
}

/// Unsolicited models for future steps: the correct model under the step and each of the next
/// `ahead` (`future[:ahead]`, 3 by default), to every recipient, asked or not; or, as `flood`,
/// under each of the next 64 steps and `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodModels {
    /// Steps ahead.
    pub ahead: u64,
    /// Also `u64::MAX` (the `flood` form).
    pub max: bool,
}

impl ServerAttack for FloodModels {
    fn name(&self) -> String {
        if self.max {
            "flood".into()
        } else {
            format!("future:{}", self.ahead)
        }
    }

    fn tags(&mut self, step: u64) -> Vec<u64> {
        let max = self.max.then_some(u64::MAX);
        (0..=self.ahead)
            .map(|k| step.saturating_add(k))
            .chain(max)
            .collect()
    }
}

/// A model of NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteModel;

impl ServerAttack for NonFiniteModel {
    fn name(&self) -> String {
        "nan".into()
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        _step: u64,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        Some(Cow::Owned(vec![f32::NAN; honest.len()]))
    }
}

/// The correct model cut to half its length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrongDimension;

impl ServerAttack for WrongDimension {
    fn name(&self) -> String {
        "wrongdim".into()
    }

    fn model_for<'a>(
        &mut self,
        _to: Node,
        honest: &'a [f32],
        _step: u64,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Cow<'a, [f32]>> {
        Some(Cow::Borrowed(&honest[..honest.len() / 2]))
    }
}

/// Every server attack's name and parameters, as `--server-attack` lists them.
pub const SERVER_ATTACKS: &str = "none, equivocate[:scale], random, reverse, stale[:age], silent, \
     forge[:ahead], maxstep, future[:ahead], flood, nan, wrongdim";

/// A server attack by name: `none` (follows the protocol), `equivocate[:scale]`, `random`,
/// `reverse`, `stale[:age]`, `silent`, `forge[:ahead]` and `maxstep` (forged later steps),
/// `future[:ahead]` (unsolicited future models), `flood` (models under the next 64 steps and
/// `u64::MAX`), `nan`, `wrongdim`. `gather_period` is the default age of `stale`.
pub fn parse_server_attack(spec: &str, gather_period: u64) -> Result<Box<dyn ServerAttack>> {
    let (name, arg) = spec
        .split_once(':')
        .map_or((spec, None), |(n, a)| (n, Some(a)));
    let bad = |a: &str| Error::Config(format!("server attack {spec:?}: bad parameter {a:?}"));
    Ok(match (name, arg) {
        ("equivocate", None) => Box::new(Equivocate { scale: 1.0 }),
        ("equivocate", Some(a)) => Box::new(Equivocate {
            scale: a
                .parse()
                .ok()
                .filter(|s: &f32| s.is_finite())
                .ok_or_else(|| bad(a))?,
        }),
        ("none", None) => Box::new(HonestServer),
        ("random", None) => Box::new(RandomModel),
        ("reverse", None) => Box::new(ReverseModel),
        ("stale", None) => Box::new(Stale::new(gather_period.max(1) as usize)),
        ("stale", Some(a)) => Box::new(Stale::new(a.parse().map_err(|_| bad(a))?)),
        ("silent", None) => Box::new(Silent),
        ("forge", None) => Box::new(ForgeStep { ahead: 1000 }),
        ("forge", Some(a)) => Box::new(ForgeStep {
            ahead: a.parse().map_err(|_| bad(a))?,
        }),
        ("maxstep", None) => Box::new(ForgeStep { ahead: u64::MAX }),
        ("future", None) => Box::new(FloodModels {
            ahead: 3,
            max: false,
        }),
        ("future", Some(a)) => Box::new(FloodModels {
            ahead: a
                .parse()
                .ok()
                .filter(|&k| k <= 1024)
                .ok_or_else(|| bad(a))?,
            max: false,
        }),
        ("flood", None) => Box::new(FloodModels {
            ahead: 64,
            max: true,
        }),
        ("nan", None) => Box::new(NonFiniteModel),
        ("wrongdim", None) => Box::new(WrongDimension),
        _ => {
            return Err(Error::Config(format!(
                "unknown server attack {spec:?}; known: {SERVER_ATTACKS}"
            )));
        }
    })
}
