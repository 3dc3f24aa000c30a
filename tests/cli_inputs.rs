//! Inputs `qipo train` and `qipo sample` must refuse with a one-line error (or read right),
//! on a tiny run: 64 transitions, a few steps a stage.

mod cli_support;
mod data_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cli_support::{fails, ok, qipo, scratch};

/// A finished tiny run, trained once per test binary: (dataset, run directory).
fn tiny_run() -> &'static (PathBuf, PathBuf) {
    static RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("tiny-run");
        std::fs::create_dir_all(&dir).unwrap();
        let dataset = dir.join("hopper-medium-replay-v2.hdf5");
        data_support::write_shipped_head(&dataset, 64);
        let out = dir.join("run");
        let steps = ["behaviour.steps=10", "critic.steps=10", "policy.steps=10", "policy.renew_every=5"];
        let mut args = vec!["train", "--dataset", dataset.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend(["--preset", "smoke", "--set", "run.log_every=5", "--set", "run.checkpoint_every=5"]);
        for step in &steps {
            args.extend(["--set", step]);
        }
        ok(qipo(&args));
        (dataset, out)
    })
}

fn error_line(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_string()
}

fn sample(states: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let run = tiny_run().1.to_str().unwrap();
    let mut args = vec!["sample", "--checkpoint", run, "--states", states.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    qipo(&args)
}

#[test]
fn a_states_file_without_its_header_is_refused_not_missing_a_state() {
    let dir = scratch("headerless");
    std::fs::create_dir_all(&dir).unwrap();
    let row = ["0.1"; 11].join(",");
    let states = dir.join("states.csv");
    let out = dir.join("actions.csv");
    std::fs::write(&states, format!("{row}\n").repeat(20)).unwrap();
    let error = error_line(&fails(sample(&states, &out, &[])));
    assert!(error.contains("states.csv") && error.contains("header"), "{error}");
    // With a header, all 20 states get an action.
    let header: Vec<String> = (0..11).map(|k| format!("s{k}")).collect();
    std::fs::write(&states, format!("{}\n{}", header.join(","), format!("{row}\n").repeat(20))).unwrap();
    ok(sample(&states, &out, &[]));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 21);
}

#[test]
fn a_states_file_may_quote_its_fields() {
    let dir = scratch("quoted");
    std::fs::create_dir_all(&dir).unwrap();
    let states = dir.join("states.csv");
    let out = dir.join("actions.csv");
    // Names holding commas, some values quoted, a byte-order mark and a blank line.
    let header: Vec<String> = (0..11).map(|k| format!("\"s{k}, scaled\"")).collect();
    let header = format!("\u{feff}{}", header.join(","));
    let row: Vec<&str> = (0..11).map(|k| if k % 2 == 0 { "\"0.1\"" } else { "0.1" }).collect();
    let row = row.join(",");
    std::fs::write(&states, format!("{header}\n{row}\n\n{row}\n")).unwrap();
    ok(sample(&states, &out, &[]));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    // A bad value is named by its line as an editor numbers it, the blank line counted.
    let bad = row.replacen("\"0.1\"", "\"x\"", 1);
    std::fs::write(&states, format!("{header}\n{row}\n\n{bad}\n")).unwrap();
    let error = error_line(&fails(sample(&states, &out, &[])));
    assert!(error.contains("line 4 column 1: 'x' is not a number"), "{error}");
}

#[test]
fn zero_counts_are_refused_like_n_zero() {
    let dir = scratch("zeros");
    std::fs::create_dir_all(&dir).unwrap();
    let states = dir.join("states.csv");
    std::fs::write(&states, format!("{}\n{}\n", ["s"; 11].join(","), ["0.1"; 11].join(","))).unwrap();
    let out = dir.join("actions.csv");
    for extra in [["--n", "0"], ["--limit", "0"]] {
        let stderr = fails(sample(&states, &out, &extra));
        assert!(stderr.contains(extra[0]), "{stderr}");
        assert!(!out.exists(), "{extra:?}: no output file");
    }
    let (dataset, run) = tiny_run();
    let stderr = fails(qipo(&[
        "train",
        "--dataset",
        dataset.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
        "--stop-after",
        "0",
    ]));
    assert!(stderr.contains("--stop-after"), "{stderr}");
}

#[test]
fn train_help_names_only_flags_that_exist() {
    let help = ok(qipo(&["train", "--help"]));
    assert!(!help.contains("--list-presets"), "{help}");
    assert!(help.contains("smoke"), "the presets are listed: {help}");
}

#[test]
fn a_run_that_diverges_before_its_first_checkpoint_promises_none() {
    let dataset = &tiny_run().0;
    let out = scratch("diverge");
    let args = ["train", "--dataset", dataset.to_str().unwrap(), "--out", out.to_str().unwrap(), "--preset", "smoke"];
    let stderr =
        fails(qipo(&[&args[..], &["--set", "behaviour.lr=1e30", "--set", "run.checkpoint_every=1000"]].concat()));
    let error = error_line(&stderr);
    assert!(error.contains("behaviour diverged by step"), "{error}");
    assert!(error.contains("no checkpoint") && !error.contains("is kept"), "{error}");
}
