//! What the command-line tests share: running the built `byzsgd` binary and a scratch folder.
// Each test file uses its own share of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh (removed, not created) folder `byzsgd-{prefix}-{pid}-{name}` under the temporary
/// directory.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzsgd-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `byzsgd` with `args` to completion.
pub fn byzsgd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(args)
        .output()
        .expect("the byzsgd binary runs")
}

/// Its standard output then its standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
