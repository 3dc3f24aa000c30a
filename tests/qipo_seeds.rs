//! `qipo train --seeds N` end to end on the shipped dataset, on lavapipe: seeds trained
//! together in the same dispatches must each produce the run that seed makes alone (metrics,
//! final evaluation, checkpoints), survive an interruption, and sum up in seeds.json.
//!
//! With the default policy and critic this is checked by `tests/qipo_sweep.rs`, whose grid
//! trains two seeds, two values of β and two learning rates together and compares its cells
//! with runs alone; here: the residual policy, IQL's critic, and the multi-seed directory.

mod cli_support;

use std::path::Path;
use std::process::Output;

use cli_support::{
    assert_same, assert_same_checkpoint, fails, metrics_without_timings as metrics, ok, qipo, read_json, scratch,
};
use serde_json::Value;

const DATASET: &str = cli_support::HOPPER;
const SHORT: [&str; 14] = cli_support::SHORT_SMOKE;

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--dataset", DATASET, "--out", out.to_str().unwrap()];
    args.extend_from_slice(&SHORT);
    args.extend_from_slice(extra);
    qipo(&args)
}

/// Two seeds trained together, interrupted and resumed, against each trained alone.
/// Returns the directory of the run that trained both seeds together.
fn check_seeds_match_single_runs(name: &str, extra: &[&str]) -> std::path::PathBuf {
    let together = scratch(&format!("{name}-together"));
    let mut interrupted = vec!["--seeds", "2", "--seed", "7", "--stop-after", "70"];
    interrupted.extend_from_slice(extra);
    let stdout = ok(train(&together, &interrupted));
    assert!(stdout.contains("--resume"), "the budget stops the run: {stdout}");
    let resumed = qipo(&["train", "--dataset", DATASET, "--resume", together.to_str().unwrap()]);
    let stdout = ok(resumed);
    assert!(stdout.contains("seed 7: done") && stdout.contains("seed 8: done"), "{stdout}");

    for seed in [7u64, 8] {
        let alone = scratch(&format!("{name}-alone-{seed}"));
        let seed_arg = seed.to_string();
        let mut args = vec!["--seed", seed_arg.as_str()];
        args.extend_from_slice(extra);
        ok(train(&alone, &args));
        let among = together.join(format!("seed{seed}"));
        let config = std::fs::read_to_string(among.join("config.toml")).unwrap();
        assert!(config.contains(&format!("seed = {seed}")), "{config}");
        assert_same(
            &format!("seed {seed} metrics"),
            &Value::from(metrics(&alone)),
            &Value::from(metrics(&among)),
            1e-4,
        );
        let eval = read_json(&among.join("eval.json"));
        assert_same(&format!("seed {seed} evaluation"), &read_json(&alone.join("eval.json")), &eval, 1e-4);
        for stage in ["behaviour", "critic", "policy"] {
            assert_same_checkpoint(&alone, &among, stage);
        }
    }
    assert_ne!(metrics(&together.join("seed7")), metrics(&together.join("seed8")), "the seeds differ");
    together
}

/// QGPO's residual network as the policy, small, with an average of its weights: trains,
/// stops, resumes, evaluates, and its seeds trained together equal each seed trained alone;
/// a seed's run then samples and evaluates from its directory like any other.
#[test]
fn residual_policy_seeds_trained_together_match_runs_of_each_seed_alone() {
    let resnet = [
        "--set",
        "policy_net.kind=resnet",
        "--set",
        "policy_net.hidden=[12, 7]",
        "--set",
        "policy_net.cond_width=6",
        "--set",
        "policy_net.embed_width=10",
        "--set",
        "policy_net.activation=silu",
        "--set",
        "policy_net.ema=0.9",
        // Each evaluation step runs every Euler step through ~50 dispatches: one episode
        // keeps the test short on a CPU driver.
        "--set",
        "run.eval_episodes=1",
    ];
    let seed = check_seeds_match_single_runs("resnet", &resnet).join("seed8");
    let csv = seed.join("actions.csv");
    let args = ["sample", "--checkpoint", seed.to_str().unwrap(), "--dataset", DATASET, "--limit", "4"];
    ok(qipo(&[&args[..], &["--n", "2", "--out", csv.to_str().unwrap()]].concat()));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1 + 8);
    let eval = ok(qipo(&["eval", "--checkpoint", seed.to_str().unwrap(), "--episodes", "1", "--json"]));
    let report: Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(report["episodes"], 1);
}

#[test]
fn iql_seeds_trained_together_match_runs_of_each_seed_alone() {
    check_seeds_match_single_runs("iql", &["--set", "critic.kind=iql"]);
}

/// The directory of seeds: each seed's run, their learning curves and the summary of their
/// final evaluations; the same command again finds it finished, other settings are refused.
#[test]
fn a_multi_seed_run_sums_up_is_continued_by_the_same_command_and_refuses_other_settings() {
    let out = scratch("again");
    let quick = ["--seeds", "2", "--set", "run.eval_every=0", "--set", "run.eval_episodes=1"];
    ok(train(&out, &quick));
    let plot = std::fs::read(out.join("seeds.png")).expect("the seeds' learning curves");
    assert!(plot.starts_with(b"\x89PNG"), "seeds.png is a PNG");
    let index = read_json(&out.join("seeds.json"));
    assert_eq!(index["seeds"], serde_json::json!([0, 1]));
    let scores: Vec<f64> = ["seed0", "seed1"]
        .iter()
        .map(|s| read_json(&out.join(s).join("eval.json"))["score_mean"].as_f64().unwrap())
        .collect();
    let summary = &index["evaluation"];
    assert_eq!(summary["scores"], serde_json::json!(scores));
    let mean = (scores[0] + scores[1]) / 2.0;
    assert!((summary["score_mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{summary}");
    let config = std::fs::read_to_string(out.join("seed1").join("config.toml")).unwrap();
    assert!(config.contains("seed = 1"), "{config}");
    let again = ok(train(&out, &quick));
    assert!(again.contains("already finished"), "{again}");
    let other = fails(train(&out, &["--seeds", "3"]));
    assert!(other.contains("other settings"), "{other}");
    let zero = fails(train(&scratch("zero"), &["--seeds", "0"]));
    assert!(zero.contains("--seeds"), "{zero}");
    // Evaluation takes one seed's run; the directory of seeds names them.
    let eval = fails(qipo(&["eval", "--checkpoint", out.to_str().unwrap(), "--episodes", "1"]));
    assert!(eval.contains("holds 2 seeds") && eval.contains("seed0"), "{eval}");
    let report = ok(qipo(&["eval", "--checkpoint", out.join("seed1").to_str().unwrap(), "--episodes", "1", "--json"]));
    assert!(report.contains("score_mean"), "{report}");
}
