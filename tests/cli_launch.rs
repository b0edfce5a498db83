//! `byzsgd launch`, `server`, `worker`, `keygen` and `report` end to end: whole clusters as
//! separate processes over mutual TLS on loopback, on the real Fashion-MNIST (Debian's
//! `dataset-fashion-mnist`). The runs share two cores, so the tests take turns.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{byzsgd, text};

/// One cluster at a time: each is a dozen processes.
static TURN: Mutex<()> = Mutex::new(());

fn scratch(name: &str) -> PathBuf {
    common::scratch("net", name)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn accuracy(dir: &Path) -> f64 {
    summary(dir)["final_test_accuracy"]
        .as_f64()
        .expect("an accuracy")
}

/// The acceptance run of issue 11: Fashion-MNIST, mlp, 500 steps, 5 servers (1 equivocating),
/// 7 workers (2 running ALIE from their own data), as processes over TLS, ends within 3 points
/// of the simulator with the same settings (whose run must reach 80%), in both modes.
#[test]
fn a_launched_cluster_matches_the_simulator_in_both_modes() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    for mode in ["async", "sync"] {
        let common = [
            "--dataset",
            "fashion-mnist",
            "--model",
            "mlp",
            "--steps",
            "500",
            "--mode",
            mode,
            "--quiet",
        ];
        let sim = scratch(&format!("sim-{mode}"));
        let mut args = vec![
            "simulate",
            "--attack-own-data",
            "--out",
            sim.to_str().unwrap(),
        ];
        args.extend_from_slice(&common);
        let o = byzsgd(&args);
        assert!(o.status.success(), "{}", text(&o));
        let net = scratch(&format!("launch-{mode}"));
        let mut args = vec!["launch", "--out", net.to_str().unwrap()];
        args.extend_from_slice(&common);
        let o = byzsgd(&args);
        assert!(o.status.success(), "{}", text(&o));
        let (a_sim, a_net) = (accuracy(&sim), accuracy(&net));
        println!("{mode}: simulate {a_sim:.4}, launch {a_net:.4}");
        assert!(a_sim >= 0.80, "{mode}: the simulator reached {a_sim}");
        assert!(
            (a_sim - a_net).abs() <= 0.03,
            "{mode}: launch {a_net} against simulate {a_sim}"
        );
        // What launch writes.
        let csv = std::fs::read_to_string(net.join("nodes.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "id,role,byzantine,pid,address");
        assert_eq!(lines.len(), 13, "{csv}");
        assert!(lines[5].starts_with("s4,server,true,"), "{csv}");
        assert!(lines[6].starts_with("w0,worker,true,"), "{csv}");
        assert!(lines[1].contains(",127.0.0.1:"), "{csv}");
        for f in [
            "cluster.toml",
            "certs/ca.pem",
            "certs/s3.key",
            "logs/s3.log",
            "metrics.csv",
        ] {
            assert!(net.join(f).exists(), "{mode}: no {f}");
        }
        for f in ["model.bpk", "accuracy.png", "diameter.png"] {
            assert!(net.join(f).exists(), "{mode}: no {f}");
        }
        let s = summary(&net);
        assert_eq!(s["steps"], 500);
        assert!(
            s["model_hash"].as_str().is_some_and(|h| h.len() == 16),
            "{s}"
        );
        let _ = std::fs::remove_dir_all(&sim);
        let _ = std::fs::remove_dir_all(&net);
    }
}

fn journal_step(dir: &Path, node: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("nodes").join(node).join("journal.jsonl"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "model")
        .filter_map(|v| v["step"].as_u64())
        .max()
        .map_or(0, |s| s + 1)
}

/// Waits (at most 300 s) until `node`'s journal shows `step`.
fn wait_for_step(dir: &Path, node: &str, step: u64) {
    let start = Instant::now();
    while journal_step(dir, node) < step {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the run did not reach step {step} at {node}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn model(dir: &Path, node: &str, step: u64) -> Option<Vec<f32>> {
    let bytes = std::fs::read(
        dir.join("nodes")
            .join(node)
            .join("models")
            .join(format!("{step}.f32")),
    )
    .ok()?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

fn dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The largest pairwise distance of three models.
fn spread(models: &[Vec<f32>; 3]) -> f64 {
    (0..3)
        .flat_map(|i| (i + 1..3).map(move |j| (i, j)))
        .map(|(i, j)| dist(&models[i], &models[j]))
        .fold(0.0, f64::max)
}

/// The distance from `x` to the coordinate-wise median of three models, and their largest
/// pairwise distance.
fn gap(x: &[f32], others: &[Vec<f32>; 3]) -> (f64, f64) {
    let spread = spread(others);
    let median: Vec<f32> = (0..x.len())
        .map(|k| {
            let mut v = [others[0][k], others[1][k], others[2][k]];
            v.sort_by(f32::total_cmp);
            v[1]
        })
        .collect();
    (dist(x, &median), spread)
}

/// An honest server SIGKILLed mid-run: training goes on and finishes; restarted by hand from
/// its checkpoint (`byzsgd server --resume`), it rejoins: after its next gather, at a later one
/// and at the end, its distance to the other honest replicas' median is within their largest
/// pairwise distance, with the margin replicas that never crashed need on the same measure.
///
/// Why not the one-gather form ("at most their largest pairwise distance at that gather"):
/// replicas that never crashed break it. At one gather the spread of three replicas is often 0
/// (they took the median of the same q_ps models) while a fourth rightly differs. Three runs
/// with this test's settings and no kill (`benches/rejoin_spread.py`; BENCHMARKS.md,
/// "Rejoining") broke the one-gather bound at 96 of 800 (replica, gather) pairs. Against the
/// largest spread since step 60, as here, 2 of 680 pairs were over, at 1.09x and 1.15x: hence
/// the margin of 1.5. The test can fail: s1's model from before the kill is asserted to be far
/// outside the same bound (it measured 43x the spread, where the bound allows 1.5x).
#[test]
fn a_killed_server_restarted_with_resume_rejoins() {
    const MARGIN: f64 = 1.5;
    // The gather period; models are written at every gather.
    const T: u64 = 5;
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("kill");
    let steps = 400;
    let launch = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args([
            "launch",
            "--dataset",
            "fashion-mnist",
            "--steps",
            &steps.to_string(),
            "--gather-period",
            &T.to_string(),
            "--eval-every",
            &T.to_string(),
            "--quiet",
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for s1 to be well into the run.
    wait_for_step(&dir, "s1", 60);
    let csv = std::fs::read_to_string(dir.join("nodes.csv")).unwrap();
    let pid = csv
        .lines()
        .find(|l| l.starts_with("s1,"))
        .and_then(|l| l.split(',').nth(3))
        .unwrap()
        .to_string();
    let killed_at = journal_step(&dir, "s1");
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(500));
    let restarted_at = std::time::SystemTime::now();
    let config = dir.join("cluster.toml");
    let mut restarted = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args([
            "server",
            "--config",
            config.to_str().unwrap(),
            "--id",
            "s1",
            "--resume",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = launch.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The restarted server finishes with the others, or at least trains on until they stop.
    let waited = Instant::now();
    while restarted.try_wait().unwrap().is_none() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = restarted.kill();
    let r = restarted.wait_with_output().unwrap();
    println!("restarted s1: {}", text(&r));
    let out = text(&o);
    assert!(
        out.contains("s1 exited"),
        "launch did not say s1 died: {out}"
    );
    // The first gather s1 finished after its restart: its first model file written since.
    let written = |s: u64| {
        let p = dir.join("nodes/s1/models").join(format!("{s}.f32"));
        std::fs::metadata(p).and_then(|m| m.modified()).ok()
    };
    let gathers = || (0..steps).filter(|s| (s + 1) % T == 0);
    let first = gathers()
        .find(|&s| written(s).is_some_and(|t| t >= restarted_at))
        .unwrap_or_else(|| panic!("s1 wrote no model after its restart (killed at {killed_at})"));
    let m = |n: &str, s: u64| model(&dir, n, s).expect("a model at a gather");
    // The other honest replicas' models at gather `s`.
    let honest = |s: u64| [m("s0", s), m("s2", s), m("s3", s)];
    let at = |s: u64| gap(&m("s1", s), &honest(s));
    let last = |n: &str| {
        let bytes = std::fs::read(dir.join("nodes").join(n).join("final.f32")).unwrap();
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect::<Vec<f32>>()
    };
    // The honest replicas' largest pairwise distance at any gather since the restart (see the
    // test's doc for why not at one gather alone).
    let yardstick = gathers()
        .filter(|&s| s >= first)
        .map(|s| spread(&honest(s)))
        .fold(0.0, f64::max);
    println!(
        "s1 killed at step {killed_at}; the honest spread at the gathers since its restart: at \
         most {yardstick:.3e}"
    );
    // What the bound tells apart: s1's last model before the kill, measured at the first
    // gather since, is far outside it.
    let before = gathers()
        .rfind(|&s| written(s).is_some_and(|t| t < restarted_at))
        .expect("s1 wrote a model before the kill");
    let stale = gap(&m("s1", before), &honest(first)).0;
    println!("s1's model of step {before}, from before the kill: {stale:.3e} away at step {first}");
    assert!(
        stale > 3.0 * MARGIN * yardstick,
        "the bound does not tell a replica that stayed behind from one that rejoined: {stale} against {yardstick}"
    );
    for (when, (d, spread)) in [
        (
            format!("its first gather since, of step {first}"),
            at(first),
        ),
        (
            format!("the gather of step {}", steps - 1 - T),
            at(steps - 1 - T),
        ),
        (
            "the end".to_string(),
            gap(&last("s1"), &[last("s0"), last("s2"), last("s3")]),
        ),
    ] {
        println!("after {when}: {d:.3e} against {spread:.3e} (at that gather) and {yardstick:.3e}");
        assert!(
            d <= MARGIN * yardstick.max(1e-6),
            "after {when}, s1 is {d} from the median; the honest spread since the restart was at most {yardstick}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad input to a node is refused before it starts, with an error that says what is wrong.
#[test]
fn nodes_refuse_bad_ids_and_foreign_or_torn_checkpoints() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("refuse");
    let o = byzsgd(&[
        "launch",
        "--steps",
        "20",
        "--eval-every",
        "0",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = dir.join("cluster.toml");
    let c = config.to_str().unwrap();
    let refused = |args: &[&str], says: &str| {
        let o = byzsgd(args);
        assert!(!o.status.success(), "{args:?} ran");
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    };
    refused(
        &["server", "--config", c, "--id", "w0"],
        "is a worker, not a server",
    );
    refused(&["server", "--config", c, "--id", "s9"], "has 5 servers");
    refused(&["node", "--config", c, "--id", "12"], "beyond the cluster");
    refused(&["server", "--config", c, "--id", "s01"], "not a node name");
    // Two processes as one node: the second is refused while the first runs (it holds the
    // node's folder). Without the lock the second started too, and this waited 30 s for it.
    let listening = dir.join("nodes").join("s1").join("listening");
    let _ = std::fs::remove_file(&listening);
    let mut first = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(["server", "--config", c, "--id", "s1", "--resume"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !listening.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "s1 did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(["node", "--config", c, "--id", "s1", "--resume"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while second.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = second.kill();
    let o = second.wait_with_output().unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert!(
        !o.status.success() && text(&o).contains("another process runs this node"),
        "a second s1 was not refused: {}",
        text(&o)
    );
    // launch refuses to overwrite a cluster.
    refused(
        &["launch", "--out", dir.to_str().unwrap()],
        "already holds a cluster",
    );
    // A torn checkpoint, another node's, and something else entirely.
    let ck = |n: &str| dir.join("nodes").join(n).join("checkpoint.bin");
    let whole = std::fs::read(ck("s1")).expect("s1 checkpointed");
    std::fs::write(ck("s1"), &whole[..whole.len() / 2]).unwrap();
    refused(&["server", "--config", c, "--id", "s1", "--resume"], "torn");
    std::fs::copy(ck("s2"), ck("s1")).unwrap();
    refused(&["server", "--config", c, "--id", "s1", "--resume"], "s2's");
    std::fs::write(ck("s1"), b"hello").unwrap();
    refused(
        &["server", "--config", c, "--id", "s1", "--resume"],
        "not a byzsgd checkpoint",
    );
    // Workers checkpoint too: a server's state is no worker's, nor a worker's a server's.
    std::fs::copy(ck("s2"), ck("w1")).unwrap();
    refused(&["worker", "--config", c, "--id", "w1", "--resume"], "s2's");
    std::fs::copy(ck("w0"), ck("s1")).unwrap();
    refused(&["node", "--config", c, "--id", "s1", "--resume"], "w0's");
    // report rebuilds what launch wrote.
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let o = byzsgd(&["report", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&dir)["steps"], 20);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM to `launch` stops every node as it stops itself (each writes its checkpoint), and
/// `launch --resume` starts them all again from there: the run finishes, each node resumed at
/// the step it stopped at.
#[test]
fn a_stopped_launch_resumes_where_it_was() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("resume");
    let d = dir.to_str().unwrap();
    let steps = 300;
    let launch = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args([
            "launch",
            "--steps",
            &steps.to_string(),
            "--stall-seconds",
            "120",
            "--quiet",
            "--out",
            d,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_step(&dir, "s0", 100);
    assert!(
        Command::new("kill")
            .args(["-TERM", &launch.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let o = launch.wait_with_output().unwrap();
    assert!(!o.status.success(), "a stopped launch exits with an error");
    assert!(
        text(&o).contains(&format!("byzsgd launch --resume --out {d}")),
        "{}",
        text(&o)
    );
    let started = |node: &str| -> Vec<u64> {
        std::fs::read_to_string(dir.join("nodes").join(node).join("journal.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "started")
            .filter_map(|v| v["step"].as_u64())
            .collect()
    };
    let o = byzsgd(&[
        "launch",
        "--resume",
        "--stall-seconds",
        "120",
        "--quiet",
        "--out",
        d,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&dir)["steps"], steps);
    for node in ["s0", "s3", "w0", "w6"] {
        let s = started(node);
        assert_eq!(s.len(), 2, "{node}: {s:?}");
        assert!(s[1] >= 50 && s[1] < steps, "{node} resumed at {}", s[1]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
