//! Per-step metrics of a simulated run: collected from the nodes' records as they come, and
//! completed in step order once every live honest server has finished the step.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use byzsgd_core::protocol::Vector;

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    /// The step.
    pub step: u64,
    /// Wall-clock seconds since the run started.
    pub wall_seconds: f64,
    /// Mean minibatch loss of the honest workers' gradients of the step.
    pub loss: Option<f64>,
    /// Test accuracy of the first honest server's model after the step, where measured.
    pub test_accuracy: Option<f64>,
    /// Largest L2 distance between two honest servers' models after the step's update.
    pub diameter: f64,
    /// The same after the step's gather (DMC), at gather steps.
    pub diameter_after_gather: Option<f64>,
    /// Replies rejected by the synchronous filters, and messages honest servers refused
    /// (non-finite, wrong dimension), at this step.
    pub rejected: usize,
    /// Worker ids whose gradients the first honest server's rule kept.
    pub kept: Vec<usize>,
}

/// The CSV header of [`StepRow::csv`].
pub const CSV_HEADER: &str =
    "step,wall_seconds,loss,test_accuracy,diameter,diameter_after_gather,rejected,kept";

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

impl StepRow {
    /// The row as CSV, in the order of [`CSV_HEADER`].
    pub fn csv(&self) -> String {
        let mut kept = String::new();
        for (i, k) in self.kept.iter().enumerate() {
            let _ = write!(kept, "{}{k}", if i > 0 { ";" } else { "" });
        }
        format!(
            "{},{:.3},{},{},{},{},{},{}",
            self.step,
            self.wall_seconds,
            opt(self.loss),
            opt(self.test_accuracy),
            self.diameter,
            opt(self.diameter_after_gather),
            self.rejected,
            kept
        )
    }
}

/// What is known of one step so far.
#[derive(Debug, Default)]
pub(crate) struct StepAcc {
    /// Per server id: its model after the update (`false`) and after the gather (`true`).
    pub models: BTreeMap<(usize, bool), Vector>,
    pub losses: Vec<f32>,
    pub rejected: usize,
    pub kept: Option<(usize, Vec<usize>)>,
}

/// Largest pairwise L2 distance (the rules' SIMD kernel, accumulated in f64).
pub fn diameter(models: &[&[f32]]) -> f64 {
    if models.len() < 2 {
        return 0.0;
    }
    let d = byzsgd_core::pairwise_distances(models);
    let mut best = 0.0f64;
    for i in 0..models.len() {
        for j in i + 1..models.len() {
            best = best.max(d.get(i, j));
        }
    }
    best.sqrt()
}

/// FNV-1a, 64 bits, over the little-endian bytes of each f32: the `model_hash` of a run.
pub fn model_hash(params: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in params {
        for b in p.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diameter_and_hash() {
        let (a, b, c) = ([0.0f32, 0.0], [3.0f32, 4.0], [0.0f32, 1.0]);
        assert_eq!(diameter(&[&a, &b, &c]), 5.0);
        assert_eq!(diameter(&[&a]), 0.0);
        // FNV-1a of no bytes is the offset basis; one bit of one value changes it.
        assert_eq!(model_hash(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(model_hash(&[1.0]), model_hash(&[1.0 + f32::EPSILON]));
        let row = StepRow {
            step: 3,
            wall_seconds: 1.5,
            loss: Some(0.5),
            test_accuracy: None,
            diameter: 0.25,
            diameter_after_gather: None,
            rejected: 2,
            kept: vec![2, 4, 6],
        };
        assert_eq!(row.csv(), "3,1.500,0.5,,0.25,,2,2;4;6");
        assert_eq!(CSV_HEADER.split(',').count(), row.csv().split(',').count());
    }
}
