//! `qipo check-critic` end to end on a tiny run of the shipped hopper dataset (lavapipe).
#![cfg(feature = "mujoco")]

mod cli_support;
mod data_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cli_support::{fails, ok, qipo, scratch};
use serde_json::Value;

const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hopper-medium-replay-v2.hdf5");

/// A run with a trained (if tiny) behaviour policy and critic, on standardised observations
/// (which the check must standardise the same way), stopped before policy improvement.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = scratch("run");
        let out_arg = out.to_str().unwrap();
        let args = [
            "train",
            "--dataset",
            DATASET,
            "--out",
            out_arg,
            "--preset",
            "smoke",
            "--set",
            "behaviour.steps=60",
            "--set",
            "critic.steps=40",
            "--set",
            "support.euler_steps=3",
            "--set",
            "data.normalize_observations=true",
            "--stop-after",
            "100",
        ];
        ok(qipo(&args));
        out
    })
}

fn check(extra: &[&str]) -> std::process::Output {
    let run = trained_run().to_str().unwrap().to_string();
    let mut args = vec!["check-critic", "--run", &run, "--dataset", DATASET];
    args.extend_from_slice(extra);
    qipo(&args)
}

#[test]
fn one_step_returns_are_the_datasets_rewards_from_its_own_states() {
    // With a horizon of one step, the dataset action's return is its transition's reward,
    // normalised as the run normalised it: MuJoCo restarted from the dataset's qpos and qvel
    // must replay the recorded transition.
    let csv = scratch("one-step.csv");
    let output =
        check(&["--states", "12", "--candidates", "2", "--horizon", "1", "--json", "--out", csv.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&ok(output)).unwrap();
    // One step of deterministic physics: every rollout of a candidate returns the same.
    for kind in ["near", "random"] {
        assert_eq!(report[kind]["return_repeatability"], 1.0, "{kind}: {report}");
        assert_eq!(report[kind]["spearman_ceiling"], 1.0, "{kind}: {report}");
    }
    let normalization: Value =
        serde_json::from_str(&std::fs::read_to_string(trained_run().join("normalization.json")).unwrap()).unwrap();
    assert_eq!(normalization["reward"]["kind"], "scale");
    let factor = normalization["reward"]["factor"].as_f64().unwrap();
    let rewards = data_support::Steps::read_d4rl(Path::new(DATASET)).rewards;

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("state,dataset_row,kind,critic_q,return"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12 * 5, "the dataset action and 2 + 2 candidates per state");
    let data_rows: Vec<&Vec<&str>> = rows.iter().filter(|r| r[2] == "data").collect();
    assert_eq!(data_rows.len(), 12);
    for r in data_rows {
        let row: usize = r[1].parse().unwrap();
        let got: f64 = r[4].parse().unwrap();
        let want = f64::from(rewards[row]) * factor;
        assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()), "row {row}: return {got}, dataset reward {want}");
    }
    // Every candidate has a finite critic value and return.
    for r in &rows {
        assert!(r[3].parse::<f64>().unwrap().is_finite() && r[4].parse::<f64>().unwrap().is_finite(), "{r:?}");
    }
}

#[test]
fn the_report_has_both_kinds_of_candidates_within_their_ranges() {
    let output = check(&["--states", "6", "--candidates", "3", "--horizon", "5", "--json"]);
    let report: Value = serde_json::from_str(&ok(output)).unwrap();
    assert_eq!(report["env"], "hopper-v4");
    assert_eq!(report["states"], 6);
    for kind in ["near", "random"] {
        let a = &report[kind];
        for name in ["spearman", "return_repeatability", "spearman_ceiling"] {
            let rho = a[name].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&rho), "{kind}: {name} {rho}");
        }
        for share in ["data_first_by_critic", "data_first_by_return"] {
            let s = a[share].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&s) && (s * 6.0 - (s * 6.0).round()).abs() < 1e-9, "{kind}: {share} {s}");
        }
    }
}

#[test]
fn a_dataset_without_mujoco_states_is_a_one_line_error() {
    let dir = data_support::scratch_dir();
    let head = dir.path().join("hopper-head.hdf5");
    data_support::write_shipped_head(&head, 300);
    let run = trained_run().to_str().unwrap().to_string();
    let err = fails(qipo(&["check-critic", "--run", &run, "--dataset", head.to_str().unwrap()]));
    assert!(err.contains("hopper-head.hdf5") && err.contains("infos/qpos"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_run_without_a_critic_is_refused() {
    let out = scratch("behaviour-only");
    let args = ["train", "--dataset", DATASET, "--out", out.to_str().unwrap(), "--preset", "smoke"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend_from_slice(&["--set", "behaviour.steps=400", "--stop-after", "20"]);
    ok(qipo(&args));
    let err = fails(qipo(&["check-critic", "--run", out.to_str().unwrap(), "--dataset", DATASET]));
    assert!(err.contains("no trained critic"), "{err}");
}
