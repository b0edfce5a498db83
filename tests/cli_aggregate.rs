//! The `byzsgd` binary end to end: `aggregate` on `.npy` files, its refusals, `rules`, `bench`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::byzsgd;

use byzsgd::registry::RULES;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzsgd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes an `[n, d]` `.npy` file (version 1.0) of dtype `descr` from raw little-endian `data`.
fn write_npy(path: &Path, descr: &str, [n, d]: [usize; 2], data: &[u8]) {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn write_f32(path: &Path, rows: &[&[f32]]) {
    let data: Vec<u8> = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    write_npy(path, "<f4", [rows.len(), rows[0].len()], &data);
}

fn aggregate(rule: &str, f: usize, input: &Path, output: &Path) -> Output {
    let f = f.to_string();
    let (input, output) = (input.to_str().unwrap(), output.to_str().unwrap());
    byzsgd(&[
        "aggregate",
        "--rule",
        rule,
        "--f",
        &f,
        "--input",
        input,
        "--output",
        output,
    ])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn median_of_a_small_file() {
    let dir = scratch("median");
    let (input, output) = (dir.join("x.npy"), dir.join("y.npy"));
    write_f32(
        &input,
        &[
            &[1.0, 10.0, -1.0],
            &[2.0, 20.0, -2.0],
            &[3.0, 30.0, -3.0],
            &[1e6, -1e6, 5.0],
            &[2.5, 25.0, 0.0],
        ],
    );
    let out = aggregate("median", 1, &input, &output);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("median") && summary.contains("n = 5") && summary.contains("d = 3"),
        "{summary}"
    );
    let (values, shape) = byzsgd::npy::read_f32_array(&output).unwrap();
    assert_eq!(shape, vec![3]);
    assert_eq!(values, vec![2.5, 20.0, -1.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bound_violation_is_refused_without_output() {
    let dir = scratch("bound");
    let (input, output) = (dir.join("x.npy"), dir.join("y.npy"));
    let row: &[f32] = &[1.0, 2.0];
    write_f32(&input, &[row; 6]);
    let out = aggregate("krum", 2, &input, &output);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("n >= 2f+3") && err.contains("at least 7") && err.contains("n = 6"),
        "{err}"
    );
    assert!(!output.exists(), "no output file after a refusal");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing but the input in {}",
        dir.display()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_dtype_is_refused_naming_it() {
    let dir = scratch("dtype");
    let (input, output) = (dir.join("x.npy"), dir.join("y.npy"));
    let data: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&input, "<f8", [3, 2], &data);
    let out = aggregate("median", 1, &input, &output);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("'<f8'") && err.contains("'<f4'") && err.contains("x.npy"),
        "{err}"
    );
    assert!(!output.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_and_unknown_rule_are_refused() {
    let dir = scratch("missing");
    let (input, output) = (dir.join("absent.npy"), dir.join("y.npy"));
    let out = aggregate("median", 0, &input, &output);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("absent.npy"), "{}", stderr(&out));
    write_f32(&input, &[&[1.0], &[2.0], &[3.0]]);
    let out = aggregate("no-such-rule", 1, &input, &output);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no-such-rule") && stderr(&out).contains("mda"),
        "{}",
        stderr(&out)
    );
    assert!(!output.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nnm_pre_aggregation_composes() {
    let dir = scratch("nnm");
    let (input, output) = (dir.join("x.npy"), dir.join("y.npy"));
    write_f32(
        &input,
        &[&[1.0, 1.0], &[1.0, 1.0], &[1.0, 1.0], &[-500.0, 900.0]],
    );
    let (i, o) = (input.to_str().unwrap(), output.to_str().unwrap());
    let out = byzsgd(&[
        "aggregate",
        "--rule",
        "mda",
        "--pre",
        "nnm",
        "--f",
        "1",
        "--input",
        i,
        "--output",
        o,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nnm+mda"));
    assert_eq!(
        byzsgd::npy::read_f32_array(&output).unwrap(),
        (vec![1.0, 1.0], vec![2])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rules_lists_every_rule() {
    let out = byzsgd(&["rules"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for rule in RULES {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(rule.name)),
            "{} missing:\n{text}",
            rule.name
        );
    }
    assert!(text.contains("nnm"));
}

/// `rules --check` runs the suite on a device's tensor-op path, one line per rule (and per NNM
/// composition), and refuses a device it does not know.
#[test]
fn rules_check_runs_the_suite_on_a_device() {
    let out = byzsgd(&["rules", "--check", "--device", "flex", "--cases", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for rule in RULES {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule.name))
            .unwrap_or_else(|| panic!("{} missing:\n{text}", rule.name));
        assert!(
            line.contains("suite ok") && line.contains("host kernels ok"),
            "{line}"
        );
    }
    assert!(text.contains("nnm+mda "), "{text}");
    assert!(text.contains("every rule passed on flex"), "{text}");

    let out = byzsgd(&["rules", "--check", "--device", "tpu"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("known devices: flex"),
        "{}",
        stderr(&out)
    );
    let out = byzsgd(&["rules", "--check", "--cases", "0"]);
    assert!(
        stderr(&out).contains("--cases 0 checks nothing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_aggregators_csv() {
    let out = byzsgd(&[
        "bench",
        "aggregators",
        "--n",
        "7",
        "--f",
        "1",
        "--d",
        "1000",
        "--format",
        "csv",
        "--repeats",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "rule,ms,ratio");
    // n = 7, f = 1 satisfies every bound (bulyan's 4f+3 = 7 included): one line per rule.
    assert_eq!(lines.len(), 1 + RULES.len(), "{text}");
    for rule in RULES {
        let line = lines
            .iter()
            .find(|l| l.split(',').next() == Some(rule.name))
            .unwrap_or_else(|| panic!("{text}"));
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        let ms: f64 = fields[1].parse().unwrap();
        assert!(
            ms >= 0.0 && fields[1].split('.').nth(1).map(str::len) == Some(3),
            "{line}"
        );
        assert_eq!(fields[2].split('.').nth(1).map(str::len), Some(2), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("average,") && l.ends_with(",1.00")),
        "{text}"
    );
}

/// `bench protocol` times each mode asked for on the model-free source and refuses a mode it
/// does not know, naming it.
#[test]
fn bench_protocol_times_each_mode() {
    let args = [
        "bench",
        "protocol",
        "--dim",
        "1000",
        "--steps",
        "6",
        "--repeats",
        "1",
    ];
    let out = byzsgd(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for mode in ["vanilla", "async", "sync"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(mode))
            .unwrap_or_else(|| panic!("no {mode} row in {text}"));
        // `mode  median [min-max]  protocol`: every figure a finite, non-negative number.
        let figures: Vec<f64> = line
            .split(|c: char| c.is_whitespace() || "[-]".contains(c))
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap_or_else(|_| panic!("{s:?} in {line}")))
            .collect();
        assert_eq!(figures.len(), 4, "{line}");
        assert!(figures.iter().all(|f| f.is_finite() && *f >= 0.0), "{line}");
    }
    let out = byzsgd(&[&args[..], &["--modes", "sync,paxos"]].concat());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown mode \"paxos\""),
        "{}",
        stderr(&out)
    );
}
