//! Helpers shared by the tests that run the `qipo` binary itself.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `qipo` with `args`; the Vulkan loader gets a runtime directory on machines without
/// a login session.
pub fn qipo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qipo")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

/// The standard output of a run that must succeed.
pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "qipo failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The error text of a run that must fail: exit status 1 for qipo's own errors, 2 for
/// clap's usage errors.
pub fn fails(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(1 | 2)), "expected a failure: {stderr}");
    stderr.into_owned()
}

/// A fresh (absent) scratch path for this test binary and process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{}-{}-{name}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The records of a run's metrics.jsonl without their timings, which differ from run to run.
pub fn metrics_without_timings(run: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = record.as_object_mut().unwrap();
            fields.retain(|key, _| !matches!(key.as_str(), "time_s" | "steps_per_s" | "actions_per_s"));
            record
        })
        .collect()
}
