//! `byzsgd simulate` end to end: the files it writes, determinism through the CLI, the TOML
//! configuration under the flags, and configurations refused before anything runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::byzsgd;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzsgd-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn simulate(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["simulate", "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    byzsgd(&args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_run_writes_metrics_summary_and_plots() {
    let dir = scratch("files");
    let o = simulate(&dir, &["--steps", "12", "--eval-every", "6"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("final test accuracy"), "{}", text(&o));
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "step,wall_seconds,loss,test_accuracy,diameter,diameter_after_gather,rejected,kept"
    );
    assert_eq!(lines.len(), 13, "one row per step");
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 8, "{line}");
        assert_eq!(cells[0], i.to_string());
        // Accuracy where measured (steps 6 and 12), empty elsewhere.
        assert_eq!(cells[3].is_empty(), (i + 1) % 6 != 0, "{line}");
        // T = 3 with the default learning rate: gathers end steps 2, 5, 8, 11.
        assert_eq!(cells[5].is_empty(), (i + 1) % 3 != 0, "{line}");
        // MDA keeps q_w - f_w = 3 of the 5 gradients it takes; ids are workers.
        let kept: Vec<usize> = cells[7].split(';').map(|k| k.parse().unwrap()).collect();
        assert_eq!(kept.len(), 3, "{line}");
        assert!(kept.iter().all(|&k| k < 7));
    }
    let s = summary(&dir);
    for key in [
        "final_test_accuracy",
        "model_hash",
        "steps",
        "wall_seconds",
        "steps_per_second",
        "config",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}: {s}");
    }
    assert_eq!(s["steps"], 12);
    assert_eq!(s["model_hash"].as_str().unwrap().len(), 16);
    assert_eq!(s["config"]["attack"], "alie");
    assert_eq!(s["config"]["gather_period"], 3);
    for plot in ["accuracy.png", "diameter.png"] {
        let bytes = std::fs::read(dir.join(plot)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{plot} is a PNG");
    }
}

#[test]
fn the_same_seed_gives_the_same_model_hash() {
    let (a, b, c) = (scratch("seed-a"), scratch("seed-b"), scratch("seed-c"));
    let args = ["--steps", "8", "--eval-every", "0", "--seed", "5"];
    for d in [&a, &b] {
        assert!(simulate(d, &args).status.success());
    }
    let other = simulate(&c, &["--steps", "8", "--eval-every", "0", "--seed", "6"]);
    assert!(other.status.success());
    let hash = |d: &Path| summary(d)["model_hash"].as_str().unwrap().to_string();
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&c));
}

#[test]
fn the_toml_file_sets_keys_and_flags_override_it() {
    let dir = scratch("toml");
    let cfg = dir.join("cluster.toml");
    std::fs::write(
        &cfg,
        "steps = 4\nattack = \"signflip\"\nmode = \"sync\"\neval_every = 0\n\
         lipschitz_slack = 1.5\n[network]\njitter = 0.5\ncrashes = [{ node = \"w6\", step = 2 }]\n",
    )
    .unwrap();
    let out = dir.join("run");
    let o = simulate(&out, &["--config", cfg.to_str().unwrap(), "--steps", "6"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = summary(&out);
    assert_eq!(s["steps"], 6, "the flag wins");
    assert_eq!(s["config"]["attack"], "signflip");
    assert_eq!(s["config"]["mode"], "sync");
    assert_eq!(s["config"]["network"]["jitter"], 0.5);
    assert_eq!(s["config"]["lipschitz_slack"], 1.5);
    std::fs::write(&cfg, "stesp = 4\n").unwrap();
    let o = simulate(&out, &["--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("stesp"), "{}", text(&o));
}

#[test]
fn bad_configurations_fail_fast_with_the_reason() {
    let dir = scratch("bad");
    let cases: &[(&[&str], &str)] = &[
        (&["--servers", "4"], "n_ps >= 3 f_ps + 2"),
        (&["--byz-workers", "3"], "n_w >= 3 f_w + 1"),
        (&["--gar", "krum"], "krum needs n >= 2f+3"),
        (&["--attack", "bogus"], "unknown worker attack"),
        (&["--server-attack", "lie"], "unknown server attack"),
        (&["--mode", "fast"], "unknown mode"),
        (&["--lipschitz-slack", "0.5"], "lipschitz_slack must be"),
        (&["--dataset", "mnist"], "needs --data-dir"),
        (
            &["--dataset", "cifar10", "--data-dir", "/nonexistent"],
            "data_batch_1.bin",
        ),
        (&["--model", "cifarnet"], "takes [3, 32, 32] images"),
        (&["--device", "wgpu"], "--features wgpu"),
    ];
    for (args, want) in cases {
        let o = simulate(&dir.join("never"), args);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            text(&o).contains(want),
            "{args:?}: {} lacks {want:?}",
            text(&o)
        );
        assert!(!dir.join("never").exists(), "{args:?}: nothing is written");
    }
}

/// The product of a run: `model.bpk`, the median of the replicas' final models. `evaluate` reads
/// it back (architecture and data set from the run's summary) and scores it exactly as the run
/// did; a file that is not a model of that architecture is refused.
#[test]
fn simulate_writes_the_model_and_evaluate_reads_it() {
    let dir = scratch("model");
    let o = simulate(&dir, &["--steps", "30", "--eval-every", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let model = dir.join("model.bpk");
    let s = summary(&dir);
    assert_eq!(s["model_file"], "model.bpk");
    let in_run = s["model_file_test_accuracy"].as_f64().unwrap();
    assert!(in_run > 0.2, "30 steps learn something: {in_run}");
    let o = byzsgd(&["evaluate", "--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let read: f64 = text(&o)
        .lines()
        .find_map(|l| l.strip_prefix("accuracy "))
        .expect("an accuracy line")
        .parse()
        .unwrap();
    assert_eq!(read, in_run, "{}", text(&o));
    // The wrong architecture, and a file that is no model at all.
    let o = byzsgd(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--arch",
        "cnn",
    ]);
    assert!(!o.status.success());
    let junk = dir.join("junk.bpk");
    std::fs::write(&junk, b"not a model").unwrap();
    let o = byzsgd(&[
        "evaluate",
        "--model",
        junk.to_str().unwrap(),
        "--arch",
        "mlp",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not a mlp model file"), "{}", text(&o));
    let o = byzsgd(&[
        "evaluate",
        "--model",
        dir.join("none.bpk").to_str().unwrap(),
    ]);
    assert!(text(&o).contains("no such model file"), "{}", text(&o));
}

/// `--help` names every attack the registries know (the lists are the parsers' own).
#[test]
fn help_lists_every_attack() {
    use byzsgd_core::attacks::{SERVER_ATTACKS, WORKER_ATTACKS};
    let o = byzsgd(&["simulate", "--help"]);
    assert!(o.status.success());
    let help = text(&o);
    for list in [SERVER_ATTACKS, WORKER_ATTACKS] {
        for entry in list.split(", ") {
            let name = entry.split(['[', ':']).next().unwrap();
            assert!(help.contains(name), "--help does not name {name}");
            byzsgd_core::attacks::parse_worker_attack(name)
                .map(|_| ())
                .or_else(|_| byzsgd_core::attacks::parse_server_attack(name, 3).map(|_| ()))
                .unwrap_or_else(|e| panic!("{name} is listed but not parsed: {e}"));
        }
    }
}
