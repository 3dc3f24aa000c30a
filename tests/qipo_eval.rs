//! `qipo eval` end to end (baselines and trained checkpoints, on lavapipe) and the periodic
//! and final evaluations of `qipo train`.
#![cfg(feature = "mujoco")]

mod cli_support;

use std::process::Output;

use cli_support::{fails, ok, qipo, scratch};
use serde_json::Value;

const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hopper-medium-replay-v2.hdf5");

/// Every stage in a few seconds, evaluated every 50 steps with 2 episodes, on standardised
/// observations (which evaluation must standardise the same way).
const TINY: [&str; 20] = [
    "--preset",
    "smoke",
    "--set",
    "behaviour.steps=100",
    "--set",
    "critic.steps=50",
    "--set",
    "policy.steps=100",
    "--set",
    "policy.renew_every=50",
    "--set",
    "run.log_every=25",
    "--set",
    "run.eval_every=50",
    "--set",
    "run.eval_episodes=2",
    "--set",
    "support.euler_steps=3",
    "--set",
    "data.normalize_observations=true",
];

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).expect("--json prints one JSON object")
}

fn eval(args: &[&str]) -> Value {
    let mut all = vec!["eval", "--json"];
    all.extend_from_slice(args);
    json(qipo(&all))
}

#[test]
fn baselines_report_returns_and_d4rl_scores() {
    let zero = eval(&["--policy", "zero", "--env", "hopper", "--episodes", "4", "--seed", "3"]);
    assert_eq!(zero["env"], "hopper-v5");
    assert_eq!(zero["episodes"], 4);
    let returns: Vec<f64> = zero["returns"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let mean = returns.iter().sum::<f64>() / 4.0;
    assert!((zero["return_mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    // Standing still, Hopper falls within a few hundred steps, earning about 1 per step.
    assert!(mean > 20.0 && mean < 400.0, "zero-action Hopper return {mean}");
    let score = 100.0 * (mean + 20.272305) / (3234.3 + 20.272305);
    assert!((zero["score_mean"].as_f64().unwrap() - score).abs() < 1e-9);

    let random =
        |seed: &str| eval(&["--policy", "random", "--env", "halfcheetah-v4", "--episodes", "2", "--seed", seed]);
    let (a, b, c) = (random("1"), random("1"), random("2"));
    assert_eq!(a["returns"], b["returns"], "the same seed gives the same numbers");
    assert_ne!(a["returns"], c["returns"]);
    assert_eq!(a["lengths"], serde_json::json!([1000, 1000]), "HalfCheetah always runs to the time limit");
}

#[test]
fn training_evaluates_periodically_and_at_the_end_and_eval_repeats_exactly() {
    let out = scratch("run");
    let mut args = vec!["train", "--dataset", DATASET, "--out", out.to_str().unwrap()];
    args.extend_from_slice(&TINY);
    let output = qipo(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ok(output);
    assert!(stderr.contains("D4RL score"), "the final evaluation is reported: {stderr}");
    assert!(stderr.contains("episode scores min"), "with the spread of its episodes: {stderr}");

    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let evaluated = |stage: &str| -> Vec<u64> {
        records
            .iter()
            .filter(|r| r["stage"] == stage && r.get("eval_score").is_some())
            .map(|r| r["step"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(evaluated("behaviour"), vec![50, 100]);
    assert_eq!(
        evaluated("policy"),
        vec![0, 50],
        "every renewal evaluates the policy it samples from (the behaviour policy at 0); the final policy is \
         evaluated once, by the final evaluation"
    );
    for r in records.iter().filter(|r| r.get("eval_score").is_some()) {
        let (low, mean, high) = (&r["eval_score_min"], &r["eval_score"], &r["eval_score_max"]);
        let (low, mean, high) = (low.as_f64().unwrap(), mean.as_f64().unwrap(), high.as_f64().unwrap());
        assert!(low <= mean && mean <= high, "episode spread {low} .. {high} around the mean {mean}");
    }
    let last = records.last().unwrap();
    assert_eq!(last["stage"], "evaluation");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["env"], "hopper-v4");
    assert_eq!(report["score_mean"], last["eval_score"]);

    let dir = out.to_str().unwrap();
    let first = eval(&["--checkpoint", dir, "--episodes", "3", "--seed", "5"]);
    let again = eval(&["--checkpoint", dir, "--episodes", "3", "--seed", "5"]);
    assert_eq!(first["env"], "hopper-v4", "the run's environment is the default");
    assert_eq!(first["returns"], again["returns"], "same checkpoint and seed: same numbers");
    assert_eq!(first["lengths"], again["lengths"]);
    // The policy's checkpoint file alone finds its run's normalisation and Euler steps.
    let file = out.join("checkpoints").join("policy.safetensors");
    let by_file =
        eval(&["--checkpoint", file.to_str().unwrap(), "--env", "hopper-v4", "--episodes", "3", "--seed", "5"]);
    assert_eq!(by_file["returns"], first["returns"], "a run's checkpoint file evaluates like the run");

    let wrong = fails(qipo(&["eval", "--checkpoint", dir, "--env", "halfcheetah", "--episodes", "1"]));
    assert!(wrong.contains("17-d observations") && wrong.contains("11-d states"), "{wrong}");
}

#[test]
fn evaluation_needs_a_known_environment() {
    let data = scratch("data");
    std::fs::create_dir_all(&data).unwrap();
    let unnamed = data.join("my-data.hdf5");
    std::fs::copy(DATASET, &unnamed).unwrap();
    let out = data.join("run");
    let mut args = vec!["train", "--dataset", unnamed.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(&TINY);
    let err = fails(qipo(&args));
    assert!(err.contains("run.eval_env"), "{err}");
    assert!(!out.exists(), "bad settings leave no run directory behind");

    // A task preset names the environment when the file name does not.
    let out = data.join("preset");
    let args = ["train", "--dataset", unnamed.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let stop = ["--preset", "hopper-medium-replay-v2", "--set", "run.log_every=1", "--stop-after", "1"];
    ok(qipo(&[&args[..], &stop[..]].concat()));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("eval_env = \"hopper-v4\""), "{config}");

    let err = fails(qipo(&["eval", "--policy", "zero", "--episodes", "1"]));
    assert!(err.contains("--env"), "{err}");
    let err = fails(qipo(&["eval", "--policy", "zero", "--env", "cartpole"]));
    assert!(err.contains("unknown environment 'cartpole'"), "{err}");
    let err = fails(qipo(&["eval", "--policy", "zero", "--env", "hopper", "--episodes", "0"]));
    assert!(err.contains("--episodes"), "{err}");
    let err = fails(qipo(&["eval", "--checkpoint", "/no/such/run", "--env", "hopper"]));
    assert!(err.contains("/no/such/run"), "{err}");
}
