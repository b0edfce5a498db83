//! What a node writes as it runs, and the merge of a whole cluster's.
//!
//! Each node writes, in its own folder (`OUT/nodes/<id>/`): `journal.jsonl`, one [`Entry`] per
//! line as things happen (appended and flushed, so a node killed mid-run leaves everything up to
//! its last line); at its evaluation steps a server also writes its model there
//! (`models/<step>.f32`, raw little-endian f32), and at the end `final.f32`, the model a reader
//! of this replica gets (a Byzantine replica's as its attack makes it). [`merge`] reads a
//! cluster's folders back into the per-step rows of `metrics.csv`, the counts and the final
//! models, the same as the simulator reports them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use byzsgd_core::node::{StepRow, diameter, model_hash};
use byzsgd_core::protocol::Node;
use byzsgd_core::{Aggregator as _, MedianConfig, Rows};
use serde::{Deserialize, Serialize};

use crate::{NetError, Result, id};

/// One line of a node's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The node started (or restarted: `step` is where it resumed).
    Started {
        /// Its name.
        node: String,
        /// Whether it runs an attack.
        byzantine: bool,
        /// The step it starts at.
        step: u64,
        /// Unix time, seconds.
        unix: f64,
    },
    /// A server's model after `step` (after its gather when `gathered`).
    Model {
        /// The step.
        step: u64,
        /// Whether after the gather.
        gathered: bool,
        /// [`model_hash`], hex: after a gather and at the last step only (hashing a 7 MB
        /// model costs about 10 ms, and every replica writes a model entry every step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hash: Option<String>,
        /// Unix time, seconds.
        unix: f64,
        /// The process's CPU time so far, seconds ([`cpu_seconds`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu: Option<f64>,
    },
    /// A server's test accuracy after `step`.
    Eval {
        /// The step.
        step: u64,
        /// The accuracy.
        accuracy: f64,
    },
    /// A server aggregated `step`'s gradients and its rule kept these workers.
    Aggregated {
        /// The step.
        step: u64,
        /// Worker ids kept.
        kept: Vec<usize>,
    },
    /// A worker's minibatch loss at `step`.
    Loss {
        /// The step.
        step: u64,
        /// The loss.
        loss: f32,
        /// The process's CPU time so far, seconds ([`cpu_seconds`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu: Option<f64>,
    },
    /// Something worth counting at `step`: `rejected: <filter>`, `refused: <reason>`, `stalled`,
    /// `caught up`, `skipped`, `gather skipped`, `fault: <what>` (a peer misbehaved on the wire),
    /// `queue full`.
    Count {
        /// The step.
        step: u64,
        /// What.
        what: String,
        /// The peer concerned, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// Whether it counts as rejected in `metrics.csv` (as the simulator counts: a reply a
        /// filter rejected, a malformed message, a peer's fault on the wire; not a late one).
        #[serde(default)]
        rejected: bool,
        /// How many times, at this step.
        #[serde(default = "one")]
        n: usize,
    },
    /// The node finished at `step`.
    Finished {
        /// The step.
        step: u64,
        /// Unix time, seconds.
        unix: f64,
        /// Its peak resident memory so far, bytes (Linux; absent elsewhere).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peak_rss: Option<u64>,
    },
}

fn one() -> usize {
    1
}

/// This process's peak resident set size in bytes (`VmHWM`), where the system tells it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This process's CPU time so far (user and system, every thread), seconds, to the microsecond
/// (`getrusage`; `None` where there is none).
pub fn cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: `getrusage` writes the struct it is given and nothing else.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
            return None;
        }
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
        Some(t(u.ru_utime) + t(u.ru_stime))
    }
    #[cfg(not(unix))]
    None
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A node's journal and model files.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    out: BufWriter<File>,
}

fn io(p: &Path, e: std::io::Error) -> NetError {
    NetError::Config(format!("{}: {e}", p.display()))
}

/// Writes `v` as raw little-endian f32, atomically.
pub fn write_f32(path: &Path, v: &[f32]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Reads a raw little-endian f32 file of `dim` values.
pub fn read_f32(path: &Path, dim: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    if bytes.len() != dim * 4 {
        return Err(NetError::Config(format!(
            "{}: {} bytes, not {dim} f32s",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect())
}

impl Journal {
    /// Opens (appending) the journal in `dir`, creating it.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("models")).map_err(|e| io(dir, e))?;
        let path = dir.join("journal.jsonl");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            out: BufWriter::new(f),
        })
    }

    /// The node's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `e` (flushed: a killed node loses nothing it wrote).
    pub fn write(&mut self, e: &Entry) -> Result<()> {
        let line = serde_json::to_string(e).map_err(|e| NetError::Config(e.to_string()))?;
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .map_err(|e| io(&self.dir, e))
    }

    /// Writes the model after `step`.
    pub fn model(&self, step: u64, params: &[f32]) -> Result<()> {
        write_f32(&self.dir.join("models").join(format!("{step}.f32")), params)
    }

    /// Writes the final model.
    pub fn final_model(&self, params: &[f32]) -> Result<()> {
        write_f32(&self.dir.join("final.f32"), params)
    }
}

/// A cluster's outputs, merged.
#[derive(Debug, Clone)]
pub struct Merged {
    /// One row per step the first honest server recorded, in step order; `diameter` is NaN
    /// where fewer than two honest servers wrote their model.
    pub rows: Vec<StepRow>,
    /// Honest nodes' counts by kind.
    pub counts: BTreeMap<String, usize>,
    /// Of those, what counts as rejected (see [`Entry::Count`]).
    pub rejected: usize,
    /// Every server's final model, by id (`None`: it wrote none).
    pub server_models: Vec<Option<Vec<f32>>>,
    /// The first honest server with a final model: its id and model.
    pub first_honest: Option<(usize, Vec<f32>)>,
    /// The coordinate-wise median of the servers' final models.
    pub final_model: Option<Vec<f32>>,
    /// Seconds from the first start to the last honest server's finish.
    pub wall_seconds: f64,
    /// Per node: whether it finished.
    pub finished: BTreeMap<String, bool>,
    /// Per node that finished on Linux: its peak resident memory, bytes.
    pub peak_rss: BTreeMap<String, u64>,
    /// Per node that recorded its CPU time at five steps or more since its last start (Linux):
    /// CPU seconds per step between its third recorded step and the one before its last (the
    /// window `bench loopback` times the wall clock over), every thread of the process.
    pub cpu_per_step: BTreeMap<String, f64>,
}

/// CPU seconds per step from a node's `(step, cpu seconds)` records, in step order: between the
/// third and the one before the last.
fn per_step(cpu: &BTreeMap<u64, f64>) -> Option<f64> {
    if cpu.len() < 5 {
        return None;
    }
    let ((s0, c0), (s1, c1)) = (cpu.iter().nth(2)?, cpu.iter().nth_back(1)?);
    Some((c1 - c0) / (s1 - s0) as f64)
}

#[derive(Debug, Default)]
struct NodeLog {
    byzantine: bool,
    entries: Vec<Entry>,
}

fn read_journal(path: &Path) -> Result<NodeLog> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let mut log = NodeLog::default();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        // A node killed while writing leaves a torn last line: skip it, keep the rest.
        let Ok(e) = serde_json::from_str::<Entry>(&line) else {
            tracing::warn!("{}:{}: not a journal entry; skipped", path.display(), i + 1);
            continue;
        };
        if let Entry::Started { byzantine, .. } = e {
            log.byzantine = byzantine;
        }
        log.entries.push(e);
    }
    Ok(log)
}

/// The row of `step`, made if needed.
fn row(rows: &mut BTreeMap<u64, StepRow>, step: u64) -> &mut StepRow {
    rows.entry(step)
        .or_insert_with(|| StepRow::unmeasured(step))
}

/// Merges the node folders under `dir/nodes` of a cluster of `n_ps` servers and `n_w` workers
/// training models of `dim` parameters.
pub fn merge(dir: &Path, n_ps: usize, n_w: usize, dim: usize) -> Result<Merged> {
    let nodes_dir = dir.join("nodes");
    let mut logs: BTreeMap<Node, NodeLog> = BTreeMap::new();
    for node in (0..n_ps)
        .map(Node::Server)
        .chain((0..n_w).map(Node::Worker))
    {
        let p = nodes_dir.join(id::name(node)).join("journal.jsonl");
        if p.exists() {
            logs.insert(node, read_journal(&p)?);
        }
    }
    if logs.is_empty() {
        return Err(NetError::Config(format!(
            "no node journals under {} (nodes/<id>/journal.jsonl)",
            nodes_dir.display()
        )));
    }
    let honest_servers: Vec<usize> = (0..n_ps)
        .filter(|&i| logs.get(&Node::Server(i)).is_some_and(|l| !l.byzantine))
        .collect();
    let first = honest_servers.first().copied();
    let mut start = f64::INFINITY;
    let mut end: f64 = 0.0;
    let mut rows: BTreeMap<u64, StepRow> = BTreeMap::new();
    let mut losses: BTreeMap<u64, Vec<f32>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut rejected_total = 0;
    let mut finished = BTreeMap::new();
    let mut peak_rss = BTreeMap::new();
    let mut cpu_per_step = BTreeMap::new();
    for (&node, log) in &logs {
        let name = id::name(node);
        let server = matches!(node, Node::Server(_));
        let honest = !log.byzantine;
        let is_first = honest && first.is_some_and(|s| node == Node::Server(s));
        finished.insert(name.clone(), false);
        // The CPU time at the last record of each step (a replica records its model twice on a
        // gather step), since the node's last start (a restarted process counts from 0 again).
        let mut cpu = BTreeMap::new();
        for e in &log.entries {
            if let Entry::Started { .. } = e {
                cpu.clear();
            }
            if let Entry::Model {
                step, cpu: Some(c), ..
            }
            | Entry::Loss {
                step, cpu: Some(c), ..
            } = e
            {
                cpu.insert(*step, *c);
            }
            match e {
                Entry::Started { unix, .. } => start = start.min(*unix),
                Entry::Finished {
                    unix, peak_rss: p, ..
                } => {
                    finished.insert(name.clone(), true);
                    if let Some(b) = p {
                        let peak = peak_rss.entry(name.clone()).or_insert(0);
                        *peak = (*peak).max(*b);
                    }
                    if server && honest {
                        end = end.max(*unix);
                    }
                }
                Entry::Model { step, unix, .. } if is_first => {
                    let r = row(&mut rows, *step);
                    r.wall_seconds = r.wall_seconds.max(*unix);
                }
                Entry::Eval { step, accuracy } if is_first => {
                    row(&mut rows, *step).test_accuracy = Some(*accuracy);
                }
                Entry::Aggregated { step, kept } if is_first => {
                    row(&mut rows, *step).kept = kept.clone()
                }
                Entry::Loss { step, loss, .. } if honest => {
                    losses.entry(*step).or_default().push(*loss);
                }
                Entry::Count {
                    step,
                    what,
                    rejected,
                    n,
                    ..
                } if honest => {
                    *counts.entry(what.clone()).or_default() += n;
                    if *rejected {
                        rejected_total += n;
                        row(&mut rows, *step).rejected += n;
                    }
                }
                _ => {}
            }
        }
        if let Some(c) = per_step(&cpu) {
            cpu_per_step.insert(name, c);
        }
    }
    // Only the steps the first honest server finished make rows.
    rows.retain(|_, r| r.wall_seconds > 0.0);
    for r in rows.values_mut() {
        r.wall_seconds -= start;
        if let Some(l) = losses.get(&r.step) {
            r.loss = Some(l.iter().map(|&x| f64::from(x)).sum::<f64>() / l.len() as f64);
        }
        let models: Vec<Vec<f32>> = honest_servers
            .iter()
            .filter_map(|&s| {
                let p = nodes_dir
                    .join(id::name(Node::Server(s)))
                    .join("models")
                    .join(format!("{}.f32", r.step));
                read_f32(&p, dim).ok()
            })
            .collect();
        if models.len() >= 2 {
            let refs: Vec<&[f32]> = models.iter().map(|m| m.as_slice()).collect();
            r.diameter = diameter(&refs);
        }
    }
    let server_models: Vec<Option<Vec<f32>>> = (0..n_ps)
        .map(|s| read_f32(&nodes_dir.join(format!("s{s}")).join("final.f32"), dim).ok())
        .collect();
    let first_honest = honest_servers
        .iter()
        .find_map(|&s| server_models[s].clone().map(|m| (s, m)));
    let reported: Vec<&Vec<f32>> = server_models.iter().flatten().collect();
    let final_model = match reported.len() {
        0 => None,
        1 => Some(reported[0].clone()),
        n => {
            let flat: Vec<f32> = reported.iter().flat_map(|m| m.iter().copied()).collect();
            let median = MedianConfig::new(n, 0).init()?;
            Some(median.aggregate_rows(Rows::new(&flat, n, dim)?)?.0)
        }
    };
    Ok(Merged {
        rows: rows.into_values().collect(),
        rejected: rejected_total,
        counts,
        server_models,
        first_honest,
        final_model,
        wall_seconds: if end > start { end - start } else { 0.0 },
        finished,
        peak_rss,
        cpu_per_step,
    })
}

/// [`model_hash`] as the journal writes it.
pub fn hash_hex(params: &[f32]) -> String {
    format!("{:016x}", model_hash(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_journal(dir: &Path, node: &str, entries: &[Entry]) {
        let d = dir.join("nodes").join(node);
        std::fs::create_dir_all(&d).unwrap();
        let text: String = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(d.join("journal.jsonl"), text).unwrap();
    }

    fn started(node: &str) -> Entry {
        Entry::Started {
            node: node.into(),
            byzantine: false,
            step: 0,
            unix: 1.0,
        }
    }

    /// A replica's CPU per step is read at each step's last model entry (after the gather on a
    /// gather step), a worker's at its loss, between the third recorded step and the one before
    /// the last, since the node's last start; a node with fewer than five steps recorded has
    /// none.
    #[test]
    fn cpu_per_step_is_taken_between_the_third_step_and_the_one_before_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let model = |step: u64, gathered: bool, cpu: f64| Entry::Model {
            step,
            gathered,
            hash: None,
            unix: 2.0 + step as f64,
            cpu: Some(cpu),
        };
        let mut s0 = vec![started("s0")];
        for step in 0..8u64 {
            // Even steps gather: their first entry's CPU time must not be the one taken.
            if step % 2 == 0 {
                s0.push(model(step, false, 100.0));
            }
            s0.push(model(
                step,
                step % 2 == 0,
                0.5 * step as f64 * (1.0 + step as f64),
            ));
        }
        write_journal(dir.path(), "s0", &s0);
        // A worker's loss entries at `steps`, with `cpu(step)` seconds.
        let losses = |steps: std::ops::Range<u64>, cpu: &dyn Fn(u64) -> f64| {
            steps
                .map(|step| Entry::Loss {
                    step,
                    loss: 1.0,
                    cpu: Some(cpu(step)),
                })
                .collect::<Vec<_>>()
        };
        let w0 = [vec![started("w0")], losses(0..6, &|s| 0.25 * s as f64)].concat();
        write_journal(dir.path(), "w0", &w0);
        let w1 = [vec![started("w1")], losses(0..4, &|s| s as f64)].concat();
        write_journal(dir.path(), "w1", &w1);
        // Restarted at step 3: only the second process's CPU time counts.
        let restarted = Entry::Started {
            node: "w2".into(),
            byzantine: false,
            step: 3,
            unix: 9.0,
        };
        let w2 = [
            vec![started("w2")],
            losses(0..6, &|s| 10.0 * s as f64),
            vec![restarted],
            losses(3..10, &|s| 0.5 * (s - 3) as f64),
        ]
        .concat();
        write_journal(dir.path(), "w2", &w2);
        let m = merge(dir.path(), 1, 3, 3).unwrap();
        // s0: steps 2..=6, CPU 3 -> 21.
        assert_eq!(m.cpu_per_step.get("s0"), Some(&((21.0 - 3.0) / 4.0)));
        // w0: steps 2..=4, CPU 0.5 -> 1.0.
        assert_eq!(m.cpu_per_step.get("w0"), Some(&0.25));
        assert_eq!(m.cpu_per_step.get("w1"), None);
        // w2 after its restart: steps 5..=8, CPU 1.0 -> 2.5.
        assert_eq!(m.cpu_per_step.get("w2"), Some(&0.5));
    }

    /// The process's CPU time is there (on Unix) and moves on while this thread works.
    #[test]
    #[cfg(unix)]
    fn cpu_seconds_advance_with_work() {
        let before = cpu_seconds().expect("getrusage");
        let mut x = 1u64;
        let started = std::time::Instant::now();
        while cpu_seconds().unwrap() < before + 0.05 {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no CPU time counted after a minute of work: {before} -> {:?}",
                cpu_seconds()
            );
        }
    }
}
