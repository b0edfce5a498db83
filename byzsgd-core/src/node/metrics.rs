//! Per-step metrics of a run, for any runtime: a [`Collector`] is fed the nodes' typed
//! [`Record`]s as they come and completes [`StepRow`]s in step order once every live honest
//! replica has finished the step; [`model_hash`] and [`diameter`] are the run's fingerprints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::protocol::{ClusterConfig, Node, Record, Vector};

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

/// How a count reads: `kind: detail`, or `kind` alone ([`Record::counted`]).
pub fn label(kind: &str, detail: &str) -> String {
    match detail {
        "" => kind.to_string(),
        detail => format!("{kind}: {detail}"),
    }
}

/// The CSV header of [`StepRow::csv`].
pub const CSV_HEADER: &str =
    "step,wall_seconds,loss,test_accuracy,diameter,diameter_after_gather,rejected,kept";

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

impl StepRow {
    /// A row of `step` with nothing measured yet (the diameter NaN: not measured).
    pub fn unmeasured(step: u64) -> Self {
        Self {
            step,
            wall_seconds: 0.0,
            loss: None,
            test_accuracy: None,
            diameter: f64::NAN,
            diameter_after_gather: None,
            rejected: 0,
            kept: Vec::new(),
        }
    }

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
struct StepAcc {
    /// Per server id: its model after the update (`false`) and after the gather (`true`).
    pub models: BTreeMap<(usize, bool), Vector>,
    pub losses: Vec<f32>,
    pub rejected: usize,
    pub kept: Option<(usize, Vec<usize>)>,
}

/// Metrics from the records of every node of a cluster: the honest replicas' models (for the
/// diameter and the run's model), the honest workers' losses, the rejections, and what the first
/// honest replica's rule kept.
#[derive(Debug)]
pub struct Collector {
    shape: ClusterConfig,
    steps: u64,
    acc: BTreeMap<u64, StepAcc>,
    rows: Vec<StepRow>,
    rejected: usize,
    skipped: usize,
    gather_hashes: Vec<(u64, u64)>,
    last_model: Option<Vector>,
    /// Notable records of honest nodes, counted by kind and detail (no string built per record).
    counts: BTreeMap<(&'static str, &'static str), usize>,
    /// Per replica, the steps `[from, to)` it skipped by catching up (it records nothing there).
    absent: BTreeMap<usize, Vec<(u64, u64)>>,
}

/// A step every live honest replica has finished: its row (the runtime fills in the wall time
/// and, where it measures one, the test accuracy before [`Collector::push`]) and the first live
/// honest replica's model after it.
#[derive(Debug)]
pub struct Completed {
    /// The row, `wall_seconds` still 0 and `test_accuracy` still `None`.
    pub row: StepRow,
    /// The model after the step (after its gather, on gather steps).
    pub model: Vector,
}

impl Collector {
    /// Metrics of a run of `steps` steps on a cluster of `shape` (the last `f_ps` servers and the
    /// first `f_w` workers are Byzantine, and their records are not counted).
    pub fn new(shape: ClusterConfig, steps: u64) -> Self {
        Self {
            shape,
            steps,
            acc: BTreeMap::new(),
            rows: Vec::new(),
            rejected: 0,
            skipped: 0,
            gather_hashes: Vec::new(),
            last_model: None,
            counts: BTreeMap::new(),
            absent: BTreeMap::new(),
        }
    }

    fn count(&mut self, kind: &'static str, detail: &'static str) {
        *self.counts.entry((kind, detail)).or_default() += 1;
    }

    /// Takes one record of node `from`.
    pub fn record(&mut self, from: Node, r: Record) {
        if self.shape.is_byzantine(from) {
            return;
        }
        if let Some((kind, detail)) = r.counted() {
            self.count(kind, detail);
        }
        if r.rejects(from) {
            self.acc.entry(r.step()).or_default().rejected += 1;
            self.rejected += 1;
        }
        match (from, r) {
            (Node::Server(s), Record::CaughtUp { from, to, .. }) => {
                self.absent.entry(s).or_default().push((from, to));
            }
            (
                Node::Server(s),
                Record::Model {
                    step,
                    gathered,
                    params,
                },
            ) => {
                let acc = self.acc.entry(step).or_default();
                acc.models.insert((s, gathered), params);
            }
            (Node::Server(s), Record::Aggregated { step, kept, .. }) => {
                let acc = self.acc.entry(step).or_default();
                if acc.kept.as_ref().is_none_or(|(first, _)| s < *first) {
                    acc.kept = Some((s, kept));
                }
            }
            (Node::Server(_), Record::Skipped { .. }) => {
                self.skipped += 1;
            }
            (Node::Worker(_), Record::Loss { step, loss }) => {
                self.acc.entry(step).or_default().losses.push(loss);
            }
            _ => {}
        }
    }

    /// The next step (in order) that every replica in `live` (honest server ids, in increasing
    /// order; not empty) has recorded, after its gather on gather steps; `None` while one is
    /// missing or once every step is done.
    pub fn next_complete(&mut self, live: &[usize]) -> Option<Completed> {
        let step = self.rows.len() as u64;
        // A replica that skipped this step by catching up has nothing to say about it.
        let skipped = |s: &usize| {
            self.absent
                .get(s)
                .is_some_and(|r| r.iter().any(|&(a, b)| a <= step && step < b))
        };
        let live: Vec<usize> = live.iter().copied().filter(|s| !skipped(s)).collect();
        let live = &live[..];
        if step >= self.steps || live.is_empty() {
            return None;
        }
        let gathers = self.shape.gathers_at(step);
        let acc = self.acc.get(&step)?;
        let has = |s: usize, g: bool| acc.models.contains_key(&(s, g));
        if !live
            .iter()
            .all(|&s| has(s, false) && (!gathers || has(s, true)))
        {
            return None;
        }
        let acc = self.acc.remove(&step).expect("present");
        let before: Vec<&[f32]> = live.iter().map(|&s| &acc.models[&(s, false)][..]).collect();
        let after: Vec<&[f32]> = if gathers {
            live.iter().map(|&s| &acc.models[&(s, true)][..]).collect()
        } else {
            Vec::new()
        };
        let first = live[0];
        let model = acc
            .models
            .get(&(first, true))
            .or_else(|| acc.models.get(&(first, false)))
            .expect("checked above")
            .clone();
        if gathers {
            self.gather_hashes.push((step, model_hash(&model)));
        }
        let losses = &acc.losses;
        let row = StepRow {
            step,
            wall_seconds: 0.0,
            loss: (!losses.is_empty())
                .then(|| losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64),
            test_accuracy: None,
            diameter: diameter(&before),
            diameter_after_gather: gathers.then(|| diameter(&after)),
            rejected: acc.rejected,
            kept: acc.kept.map(|(_, k)| k).unwrap_or_default(),
        };
        Some(Completed { row, model })
    }

    /// Whether the test accuracy is due after `step`: every `every` steps (0: never) and at the
    /// last.
    pub fn evaluates_at(&self, step: u64, every: u64) -> bool {
        step + 1 == self.steps || (every > 0 && (step + 1).is_multiple_of(every))
    }

    /// Files a completed row (its test accuracy filled in by the runtime, if measured).
    pub fn push(&mut self, completed: Completed) {
        self.rows.push(completed.row);
        self.last_model = Some(completed.model);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[StepRow] {
        &self.rows
    }

    /// Replies rejected and malformed messages refused by honest nodes.
    pub fn rejected(&self) -> usize {
        self.rejected
    }

    /// Synchronous updates honest replicas skipped for want of gradients.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Notable records of honest nodes, counted by kind (`rejected: distance`, `refused: late`,
    /// `stalled`, ...; see [`Report::counts`](crate::sim::Report::counts)).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts
            .iter()
            .map(|(&(kind, detail), &n)| (label(kind, detail), n))
            .collect()
    }

    /// The model after the last completed step.
    pub fn last_model(&self) -> Option<&Vector> {
        self.last_model.as_ref()
    }

    /// Replaces the last model (a run that ends on a broken model reports that one).
    pub fn set_last_model(&mut self, model: Vector) {
        self.last_model = Some(model);
    }

    /// Ends collection: the rows and `(step, model_hash)` after each gather.
    pub fn finish(self) -> (Vec<StepRow>, Vec<(u64, u64)>) {
        (self.rows, self.gather_hashes)
    }
}

/// Largest pairwise L2 distance (the rules' SIMD kernel, accumulated in f64).
pub fn diameter(models: &[&[f32]]) -> f64 {
    if models.len() < 2 {
        return 0.0;
    }
    let d = crate::pairwise_distances(models);
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
    use crate::protocol::{Mode, Refused};
    use std::sync::Arc;

    /// A row completes once every live honest replica has recorded the step (and its gather on
    /// gather steps); records of Byzantine nodes, and refusals for timing rather than content,
    /// are not counted.
    #[test]
    fn rows_complete_in_order_from_honest_records_only() {
        let shape = ClusterConfig {
            n_ps: 5,
            f_ps: 1,
            n_w: 7,
            f_w: 2,
            gather_period: 2,
            mode: Mode::Async,
        };
        let mut c = Collector::new(shape, 2);
        let model = |s: usize, step, gathered, v: f32| {
            (
                Node::Server(s),
                Record::Model {
                    step,
                    gathered,
                    params: Arc::new(vec![v, 0.0]),
                },
            )
        };
        let loss = |w: usize, loss| (Node::Worker(w), Record::Loss { step: 0, loss });
        let dropped = |s: usize, reason| {
            let from = Node::Worker(3);
            (
                Node::Server(s),
                Record::Dropped {
                    from,
                    step: 0,
                    reason,
                },
            )
        };
        for (from, r) in [
            loss(0, 100.0), // Byzantine worker: ignored
            loss(2, 1.0),
            loss(3, 3.0),
            dropped(0, Refused::NotFinite),
            dropped(0, Refused::Late),
            dropped(4, Refused::NotFinite), // Byzantine server: ignored
            model(4, 0, false, 1e9),        // Byzantine server: ignored
            model(0, 0, false, 0.0),
            model(1, 0, false, 3.0),
        ] {
            c.record(from, r);
        }
        assert!(
            c.next_complete(&[0, 1, 2]).is_none(),
            "replica 2 is missing"
        );
        let done = c
            .next_complete(&[0, 1])
            .expect("the live replicas have step 0");
        assert_eq!(done.row.step, 0);
        assert_eq!(done.row.loss, Some(2.0));
        assert_eq!(done.row.diameter, 3.0);
        assert_eq!(done.row.rejected, 1);
        assert_eq!(
            *done.model,
            vec![0.0, 0.0],
            "the first live replica's model"
        );
        c.push(done);
        // Step 1 gathers (T = 2): the models after the gather are needed too.
        c.record(Node::Server(0), model(0, 1, false, 5.0).1);
        c.record(Node::Server(1), model(1, 1, false, 6.0).1);
        assert!(c.next_complete(&[0, 1]).is_none(), "no gather recorded yet");
        c.record(Node::Server(0), model(0, 1, true, 5.5).1);
        c.record(Node::Server(1), model(1, 1, true, 5.5).1);
        let done = c.next_complete(&[0, 1]).expect("gathered");
        assert_eq!(done.row.diameter_after_gather, Some(0.0));
        assert_eq!(*done.model, vec![5.5, 0.0], "the model after the gather");
        c.push(done);
        assert!(c.next_complete(&[0, 1]).is_none(), "every step is done");
        assert_eq!(c.rejected(), 1);
        let (rows, gathers) = c.finish();
        assert_eq!(rows.len(), 2);
        assert_eq!(gathers, vec![(1, model_hash(&[5.5, 0.0]))]);
    }

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
