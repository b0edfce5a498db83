//! `byzsgd reproduce` end to end: the quick CIFAR-10 reproduction on generated images in the
//! exact CIFAR-10 binary format (`byzsgd datasets generate cifar10`), checked for more than its
//! exit status: every table row, vanilla above chance, averaging under `foe:10` below MDA, the
//! plots, resuming after an interruption, and the errors a user meets first.

mod common;

use std::path::{Path, PathBuf};

use common::{byzsgd, text};

fn scratch(name: &str) -> PathBuf {
    common::scratch("repro", name)
}

/// The rows of a CSV as (header, cells).
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = std::fs::read_to_string(path).unwrap();
    let mut lines = t.lines().map(|l| l.split(',').map(String::from).collect());
    (lines.next().unwrap(), lines.collect())
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[test]
fn quick_cifar10_reproduction_reports_every_part_and_resumes() {
    let (data, out) = (scratch("data"), scratch("out"));
    let o = byzsgd(&[
        "datasets",
        "generate",
        "cifar10",
        "--out",
        data.to_str().unwrap(),
        "--train",
        "4000",
        "--test",
        "300",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let args = [
        "reproduce",
        "cifar10",
        "--quick",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = byzsgd(&args);
    assert!(o.status.success(), "{}", text(&o));

    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    // Generated data is labelled as such on every part.
    for part in [
        "Convergence",
        "Throughput",
        "Robustness matrix",
        "Contraction",
    ] {
        assert!(
            report.contains(&format!("## {part} (synthetic)")),
            "{part}:\n{report}"
        );
    }
    let rows = [
        "| vanilla |",
        "| async |",
        "| sync |",
        "| async mda alone (paper) |",
        "| async alie + equivocate |",
        "| async foe:10 + equivocate |",
        "| async signflip + equivocate |",
        "| sim | vanilla |",
        "| sim | async |",
        "| sim | sync |",
        "| average | async, n_w = 7, f_w = 2 |",
        "| median | async, n_w = 7, f_w = 2 |",
        "| mda | async, n_w = 7, f_w = 2 |",
        "| with gathers | 3 |",
        "| without gathers | 0 |",
        "| rule | cluster | none | alie | foe:10 |",
    ];
    for row in rows {
        assert!(report.contains(row), "no row {row}:\n{report}");
    }
    assert!(report.contains("- Commit: `"), "{report}");
    assert!(report.contains("- Machine: "), "{report}");
    for plot in [
        "convergence_steps",
        "convergence_time",
        "robustness",
        "contraction",
    ] {
        let svg = std::fs::read_to_string(out.join(format!("{plot}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<text"), "{plot}.svg");
        let png = std::fs::read(out.join(format!("{plot}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{plot}.png");
    }

    // Vanilla learns the generated classes: above chance (10 classes).
    let (h, conv) = csv(&out.join("convergence.csv"));
    let (run, acc) = (column(&h, "run"), column(&h, "test_accuracy"));
    let best = conv
        .iter()
        .filter(|r| r[run] == "vanilla")
        .map(|r| r[acc].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!(best > 0.2, "vanilla's best accuracy {best}");

    // Averaging under the strong FoE ends below MDA (a diverged run counts as 0).
    let (h, matrix) = csv(&out.join("robustness.csv"));
    let (rule, attack) = (column(&h, "rule"), column(&h, "attack"));
    let (acc, diverged) = (
        column(&h, "final_test_accuracy"),
        column(&h, "diverged_at_step"),
    );
    let score = |name: &str| {
        let r = matrix
            .iter()
            .find(|r| r[rule] == name && r[attack] == "foe:10")
            .unwrap();
        if r[diverged].is_empty() {
            r[acc].parse::<f64>().unwrap()
        } else {
            0.0
        }
    };
    assert!(
        score("average") < score("mda"),
        "average {} mda {}",
        score("average"),
        score("mda")
    );

    // Interrupted after the first part: the rerun keeps it and runs the rest.
    std::fs::remove_file(out.join("throughput.csv")).unwrap();
    // The report too, so that the check of its throughput table below sees it written again.
    std::fs::remove_file(out.join("REPORT.md")).unwrap();
    let before = std::fs::read_to_string(out.join("convergence.csv")).unwrap();
    let o = byzsgd(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("[1/4] convergence: done before, kept"), "{t}");
    assert!(t.contains("[2/4] throughput: 3 runs"), "{t}");
    assert!(t.contains("[3/4] robustness: done before, kept"), "{t}");
    assert_eq!(
        std::fs::read_to_string(out.join("convergence.csv")).unwrap(),
        before
    );
    assert!(
        std::fs::read_to_string(out.join("REPORT.md"))
            .unwrap()
            .contains("| sim | sync |")
    );

    // Other settings into the same folder are refused, naming the difference.
    let mut other = args.to_vec();
    other.extend(["--seed", "2"]);
    let o = byzsgd(&other);
    assert!(!o.status.success());
    assert!(text(&o).contains("seed: 2 now, 1 before"), "{}", text(&o));
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

/// Runs `byzsgd` with `args`, checks it failed, and returns what it said.
fn refused(args: &[&str]) -> String {
    let o = byzsgd(args);
    let t = text(&o);
    assert!(!o.status.success(), "{args:?} was accepted: {t}");
    t
}

#[test]
fn missing_data_and_wrong_models_are_refused_with_directions() {
    let out = scratch("refused");
    let out_dir = out.to_str().unwrap();
    let t = refused(&["reproduce", "cifar10", "--quick", "--out", out_dir]);
    assert!(
        t.contains("cifar-10-binary.tar.gz") && t.contains("data_batch_1.bin"),
        "{t}"
    );
    assert!(t.contains("datasets generate cifar10"), "{t}");

    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let dir = empty.to_str().unwrap();
    let t = refused(&[
        "reproduce",
        "cifar10",
        "--quick",
        "--data-dir",
        dir,
        "--out",
        out_dir,
    ]);
    assert!(t.contains("data_batch_1.bin"), "{t}");

    let t = refused(&[
        "reproduce",
        "fashion-mnist",
        "--model",
        "cifarnet",
        "--out",
        out_dir,
    ]);
    assert!(t.contains("fashion-mnist mlp or cnn"), "{t}");
    let t = refused(&[
        "reproduce",
        "fashion-mnist",
        "--target",
        "80",
        "--out",
        out_dir,
    ]);
    assert!(t.contains("a test accuracy in (0, 1]"), "{t}");
    let _ = std::fs::remove_dir_all(&empty);
    let _ = std::fs::remove_dir_all(&out);
}
