//! Helpers shared by the tests that run the `qipo` binary itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use qipo::run::checkpoint::Checkpoint;
use serde_json::Value;

/// The dataset shipped in data/.
pub const HOPPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hopper-medium-replay-v2.hdf5");

/// The smoke preset, shortened further: every stage, two renewals, a few seconds.
pub const SHORT_SMOKE: [&str; 14] = [
    "--preset",
    "smoke",
    "--set",
    "behaviour.steps=60",
    "--set",
    "critic.steps=60",
    "--set",
    "policy.steps=60",
    "--set",
    "policy.renew_every=30",
    "--set",
    "run.log_every=20",
    "--set",
    "run.checkpoint_every=30",
];

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

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every number of `a` and `b` within a relative `tol`, and everything else equal.
pub fn assert_same(what: &str, a: &Value, b: &Value, tol: f64) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= tol * x.abs().max(1e-3), "{what}: {x} alone, {y} trained together");
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{what}: fields");
            for (key, value) in x {
                if key != "seconds" && key != "env_steps_per_s" {
                    assert_same(&format!("{what}.{key}"), value, &y[key], tol);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{what}: lengths");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                assert_same(&format!("{what}[{i}]"), u, v, tol);
            }
        }
        _ => assert_eq!(a, b, "{what}"),
    }
}

/// Every tensor of a stage's checkpoint, alone and among seeds.
pub fn assert_same_checkpoint(alone: &Path, among: &Path, stage: &str) {
    let path = |run: &Path| run.join("checkpoints").join(format!("{stage}.safetensors"));
    let (a, b) = (Checkpoint::load(&path(alone)).unwrap(), Checkpoint::load(&path(among)).unwrap());
    assert_eq!(a.tensors.keys().collect::<Vec<_>>(), b.tensors.keys().collect::<Vec<_>>(), "{stage} tensors");
    for (name, (shape, values)) in &a.tensors {
        let (other_shape, other) = &b.tensors[name];
        assert_eq!(shape, other_shape, "{stage} {name}");
        for (x, y) in values.iter().zip(other) {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{stage} {name}: {x} alone, {y} trained together");
        }
    }
    assert_eq!(a.meta, b.meta, "{stage} metadata");
}
