//! Adaptive ALIE and FoE: a line search over `z` (or `ε`) for the value whose aggregate, under
//! the rule in use, lands farthest from the honest mean (16 evaluations, ALGORITHMS.md).

use super::stats::mean_std;
use super::{View, WorkerAttack};
use crate::Rows;

/// Evaluations per line search.
const EVALUATIONS: usize = 16;

/// The candidate (of `candidates`) whose vector, sent by every Byzantine worker, moves the
/// rule's aggregate farthest from `mu`. Without a rule, the last candidate.
fn most_damaging(view: &View<'_>, mu: &[f32], candidates: &[Vec<f32>]) -> usize {
    let Some(rule) = view.rule else {
        return candidates.len() - 1;
    };
    let (n, d) = (view.honest.n(), view.honest.d());
    let mut best = (f64::NEG_INFINITY, candidates.len() - 1);
    for (k, attack) in candidates.iter().enumerate() {
        let mut rows = view.honest.to_matrix().into_owned();
        for _ in 0..view.byzantine {
            rows.extend_from_slice(attack);
        }
        let Ok(rows) = Rows::new(&rows, n + view.byzantine, d) else {
            continue;
        };
        let Ok((agg, _)) = rule.aggregate_rows(rows) else {
            continue;
        };
        let dist: f64 = agg
            .iter()
            .zip(mu)
            .map(|(a, m)| (*a as f64 - *m as f64).powi(2))
            .sum();
        if dist > best.0 {
            best = (dist, k);
        }
    }
    best.1
}

/// ALIE with `z` chosen each step among 16 values in `(0, 8]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdaptiveAlie {
    /// The `z` picked at the last step.
    pub last: Option<f32>,
}

impl WorkerAttack for AdaptiveAlie {
    fn name(&self) -> String {
        "alie:auto".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        let (mu, sigma) = mean_std(view.honest);
        let zs: Vec<f32> = (1..=EVALUATIONS).map(|k| 0.5 * k as f32).collect();
        let candidates: Vec<Vec<f32>> = zs
            .iter()
            .map(|z| mu.iter().zip(&sigma).map(|(m, s)| m - z * s).collect())
            .collect();
        let k = most_damaging(view, &mu, &candidates);
        self.last = Some(zs[k]);
        candidates[k].clone()
    }
}

/// FoE with `ε` chosen each step among 16 values from 0.1 to 100 (log-spaced).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdaptiveFoe {
    /// The `ε` picked at the last step.
    pub last: Option<f32>,
}

impl WorkerAttack for AdaptiveFoe {
    fn name(&self) -> String {
        "foe:auto".into()
    }

    fn craft(&mut self, view: &mut View<'_>) -> Vec<f32> {
        let (mu, _) = mean_std(view.honest);
        let eps: Vec<f32> = (0..EVALUATIONS)
            .map(|k| 0.1 * 1000f32.powf(k as f32 / (EVALUATIONS - 1) as f32))
            .collect();
        let candidates: Vec<Vec<f32>> = eps
            .iter()
            .map(|e| mu.iter().map(|m| -e * m).collect())
            .collect();
        let k = most_damaging(view, &mu, &candidates);
        self.last = Some(eps[k]);
        candidates[k].clone()
    }
}
