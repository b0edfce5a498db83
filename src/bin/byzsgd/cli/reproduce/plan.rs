//! What a reproduction runs: its settings (written to `OUT/reproduce.json`, so that a resumed run
//! is known to be the same one) and the sizes of each part, full or `--quick`.

use byzsgd_core::node::ClusterSpec;
use serde::{Deserialize, Serialize};

/// The worker attacks of the convergence part, each with an equivocating server, at the largest
/// `f` the bounds allow (ALGORITHMS.md: FoE's strong form, live against averaging).
pub const CONVERGENCE_ATTACKS: &[&str] = &["alie", "foe:10", "signflip"];

/// Every rule the robustness matrix can run, in the order of its rows.
pub const MATRIX_RULES: &[&str] = &[
    "average",
    "median",
    "trimmed-mean",
    "krum",
    "multi-krum",
    "bulyan",
    "mda",
];

/// Every worker attack the robustness matrix can run, in the order of its columns.
pub const MATRIX_ATTACKS: &[&str] = &[
    "none",
    "alie",
    "foe:10",
    "signflip",
    "gaussian",
    "labelflip",
    "mimic",
];

/// Everything that decides what a reproduction measures. Two runs into the same folder must
/// agree on all of it, or the second is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `cifar10` or `fashion-mnist`.
    pub dataset: String,
    /// Where its files are (absolute where it could be made so).
    pub data_dir: Option<String>,
    /// The directory holds generated images (`datasets generate` marked it), not the real set.
    pub synthetic: bool,
    /// The model.
    pub model: String,
    /// The device.
    pub device: String,
    /// `--quick`.
    pub quick: bool,
    /// `sim`, or `loopback` (throughput also over processes on loopback).
    pub runtime: String,
    /// The seed of every run (the throughput repeats add their index).
    pub seed: u64,
    /// Minibatch per worker.
    pub batch: usize,
    /// Worker momentum of every run (the default 0.95 in full; 0.9 in quick runs, whose few
    /// steps the slower start of 0.95 would leave near chance).
    pub momentum: f64,
    /// The sync Lipschitz filter's slack of every run (the default, 2; recorded so that a
    /// folder started under another default is refused rather than mixed).
    pub lipschitz_slack: f64,
    /// Training images used (the first ones; `None`: all).
    pub train_images: Option<usize>,
    /// Test images scored (the first ones; `None`: all).
    pub test_images: Option<usize>,
    /// Steps of each convergence run.
    pub convergence_steps: u64,
    /// Test accuracy every this many steps in the convergence runs.
    pub eval_every: u64,
    /// The attacked ByzSGD runs of the convergence part run in sync mode too.
    pub attacks_in_both_modes: bool,
    /// The target accuracy; `None`: 90% of vanilla's best, rounded down to a whole percent.
    pub target: Option<f64>,
    /// Steps and runs of each mode in the throughput part.
    pub throughput_steps: u64,
    /// Runs of each mode in the throughput part, interleaved.
    pub throughput_repeats: usize,
    /// Steps of each robustness-matrix run.
    pub matrix_steps: u64,
    /// The matrix's rules.
    pub rules: Vec<String>,
    /// Each rule runs alone and behind these pre-aggregations.
    pub pre: Vec<String>,
    /// The matrix's worker attacks.
    pub attacks: Vec<String>,
    /// Steps of each contraction run.
    pub contraction_steps: u64,
}

impl Plan {
    /// The plan for `dataset` and `model`, full or quick.
    pub fn new(dataset: &str, model: &str, quick: bool) -> Self {
        let cifar = dataset == "cifar10";
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut p = Plan {
            dataset: dataset.into(),
            data_dir: None,
            synthetic: false,
            model: model.into(),
            device: "flex".into(),
            quick,
            runtime: "sim".into(),
            seed: 1,
            batch: 32,
            momentum: ClusterSpec::default().momentum,
            lipschitz_slack: ClusterSpec::default().lipschitz_slack,
            train_images: None,
            test_images: None,
            convergence_steps: if cifar { 3000 } else { 800 },
            eval_every: if cifar { 100 } else { 10 },
            attacks_in_both_modes: true,
            target: Some(if cifar { 0.6 } else { 0.8 }),
            throughput_steps: if cifar { 30 } else { 300 },
            throughput_repeats: 3,
            matrix_steps: if cifar { 1000 } else { 500 },
            rules: owned(MATRIX_RULES),
            pre: vec!["nnm".into()],
            attacks: owned(MATRIX_ATTACKS),
            contraction_steps: if cifar { 1000 } else { 500 },
        };
        if quick {
            p = Plan {
                batch: if cifar { 8 } else { 32 },
                momentum: 0.9,
                train_images: Some(if cifar { 4000 } else { 20_000 }),
                test_images: Some(if cifar { 300 } else { 2000 }),
                convergence_steps: if cifar { 40 } else { 200 },
                eval_every: 10,
                attacks_in_both_modes: false,
                target: None,
                throughput_steps: if cifar { 6 } else { 60 },
                throughput_repeats: 1,
                matrix_steps: if cifar { 30 } else { 150 },
                rules: owned(&["average", "median", "mda"]),
                pre: Vec::new(),
                attacks: owned(&["none", "alie", "foe:10"]),
                contraction_steps: if cifar { 30 } else { 150 },
                ..p
            };
        }
        p
    }

    /// Every setting in which `self` and `other` differ, as `key: ours now, theirs before`,
    /// joined by `; `.
    pub fn difference(&self, other: &Plan) -> Option<String> {
        let (a, b) = (
            serde_json::to_value(self).ok()?,
            serde_json::to_value(other).ok()?,
        );
        let (a, b) = (a.as_object()?, b.as_object()?);
        let absent = serde_json::Value::from("absent");
        let diffs: Vec<String> = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v} now, {} before", b.get(k).unwrap_or(&absent)))
            .collect();
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_shrinks_every_part_and_names_differences() {
        let (full, quick) = (
            Plan::new("cifar10", "cifarnet", false),
            Plan::new("cifar10", "cifarnet", true),
        );
        assert!(quick.convergence_steps < full.convergence_steps);
        assert!(quick.matrix_steps < full.matrix_steps);
        assert!(quick.rules.len() * quick.attacks.len() < full.rules.len() * full.attacks.len());
        assert!(
            quick.rules.iter().any(|r| r == "average") && quick.rules.iter().any(|r| r == "mda")
        );
        assert!(quick.attacks.iter().any(|a| a == "foe:10"));
        assert_eq!(full.difference(&full), None);
        let d = quick.difference(&full).unwrap();
        assert!(d.contains("quick: true now, false before"), "{d}");
        assert!(d.contains("matrix_steps: 30 now, 1000 before"), "{d}");
    }
}
