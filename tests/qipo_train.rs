//! `qipo train` and `qipo sample` end to end on the shipped dataset, on lavapipe: the run
//! directory, resuming (finished and interrupted runs), determinism, the divergence guard.

mod cli_support;

use std::path::Path;
use std::process::Output;

use cli_support::{metrics_without_timings as metrics, ok, qipo, scratch};
use serde_json::Value;

const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hopper-medium-replay-v2.hdf5");

/// The smoke preset, shortened further: every stage, a few seconds.
const SHORT: [&str; 14] = [
    "--preset",
    "smoke",
    "--set",
    "behaviour.steps=100",
    "--set",
    "critic.steps=100",
    "--set",
    "policy.steps=100",
    "--set",
    "policy.renew_every=50",
    "--set",
    "run.log_every=25",
    "--set",
    "run.checkpoint_every=50",
];

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--dataset", DATASET, "--out", out.to_str().unwrap()];
    args.extend_from_slice(&SHORT);
    args.extend_from_slice(extra);
    qipo(&args)
}

fn resume(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--dataset", DATASET, "--resume", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    qipo(&args)
}

fn stage_records<'a>(records: &'a [Value], stage: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["stage"] == stage).collect()
}

#[test]
fn a_run_writes_every_stage_and_resuming_it_does_nothing() {
    let out = scratch("full");
    let stdout = ok(train(&out, &[]));
    assert!(stdout.contains("of the behaviour policy's") && stdout.contains("of the improved policy's"), "{stdout}");
    for file in ["config.toml", "metrics.jsonl", "learning_curves.png", "state.json", "normalization.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    for stage in ["behaviour", "critic", "policy"] {
        assert!(out.join("checkpoints").join(format!("{stage}.safetensors")).is_file(), "{stage} checkpoint");
    }
    let state: Value = serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["finished"], true);
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("renew_every = 50"), "the config records the overrides: {config}");

    let records = metrics(&out);
    let behaviour = stage_records(&records, "behaviour");
    assert_eq!(behaviour.len(), 4, "one record per 25 steps");
    assert!(behaviour.iter().all(|r| r["loss"].as_f64().unwrap().is_finite()));
    let critic = stage_records(&records, "critic");
    for key in ["q1_loss", "q2_loss", "q_mean", "target_mean"] {
        assert!(critic.iter().all(|r| r[key].is_number()), "critic records lack {key}");
    }
    // The finished critic's view of random actions against the data's, in its last record only.
    let probed: Vec<_> = critic.iter().filter(|r| r.get("q_probe_random").is_some()).collect();
    assert_eq!(probed.len(), 1);
    assert_eq!(probed[0]["step"], 100);
    assert!(probed[0]["q_probe_data"].as_f64().unwrap().is_finite());
    let wins = probed[0]["q_probe_data_wins"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&wins), "a share of states: {wins}");
    let renewals: Vec<_> =
        stage_records(&records, "policy").into_iter().filter(|r| r.get("weight_ess").is_some()).collect();
    assert_eq!(renewals.len(), 3, "renewals at steps 0, 50 and the final measurement at 100");
    for r in &renewals {
        let ess = r["weight_ess"].as_f64().unwrap();
        assert!((1.0..=5.0 + 1e-6).contains(&ess), "ESS of M + 1 = 5 weights out of range: {ess}");
        assert!(r["q_policy_mean"].is_number() && r["q_data_mean"].is_number());
        // Sampled actions lie in [-1, 1] like the dataset's, so no component is more than 2 away.
        let distance = r["action_distance"].as_f64().unwrap();
        assert!(distance > 0.0 && distance <= 2.0, "drift from the dataset actions: {distance}");
        let at_bound = r["action_at_bound"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&at_bound), "a share of components: {at_bound}");
    }

    let stdout = ok(resume(&out, &[]));
    assert!(stdout.contains("already finished"), "{stdout}");
    assert_eq!(metrics(&out), records, "resuming a finished run changes nothing");
    // The same command again leaves the run alone; other settings into the same place are refused.
    let stdout = ok(train(&out, &[]));
    assert!(stdout.contains("already finished"), "{stdout}");
    let clash = train(&out, &["--set", "policy.beta=5"]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&clash.stderr).contains("other settings"));
    assert_eq!(metrics(&out), records);
}

/// Each renewal's mean Q of the sampled support actions, by step.
fn renewal_q(out: &Path) -> Vec<(u64, f64)> {
    let records = metrics(out);
    stage_records(&records, "policy")
        .into_iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r.get("q_policy_mean")?.as_f64()?)))
        .collect()
}

#[test]
fn renewals_draw_from_the_behaviour_policy_when_asked() {
    // A vanishing learning rate leaves the policy exactly the behaviour policy, so its
    // renewals sample what renewals from the behaviour policy sample while the policy trains.
    let frozen = scratch("frozen");
    ok(train(&frozen, &["--set", "policy.lr=1e-30"]));
    let from_behaviour = scratch("from-behaviour");
    ok(train(&from_behaviour, &["--set", "policy.support_from=behaviour"]));
    let from_policy = scratch("from-policy");
    ok(train(&from_policy, &[]));
    let (frozen, behaviour, policy) = (renewal_q(&frozen), renewal_q(&from_behaviour), renewal_q(&from_policy));
    let steps: Vec<u64> = behaviour.iter().map(|r| r.0).collect();
    assert_eq!(steps, [0, 50, 100]);
    assert_eq!(behaviour[..2], frozen[..2], "renewals before the end sample the behaviour policy");
    assert_ne!(policy[1], behaviour[1], "by default they sample the policy being improved");
    // The last renewal measures the final policy, which trained on the behaviour's samples.
    assert_ne!(behaviour[2], frozen[2]);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_result() {
    let whole = scratch("whole");
    ok(train(&whole, &[]));
    // Stopped in the critic, then in policy improvement, then finished.
    let parts = scratch("parts");
    let stdout = ok(train(&parts, &["--stop-after", "130"]));
    // The budget ends at the logging interval under way: critic step 50.
    assert!(stdout.contains("--resume"), "{stdout}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(parts.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["current"]["stage"], "critic");
    // A crash after the checkpoint leaves records the resumed run computes again, and a
    // half-written line: resuming drops both.
    let log = parts.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text += "{\"stage\":\"critic\",\"step\":75,\"q1_loss\":9.9,\"time_s\":1.0}\n{\"stage\":\"cri";
    std::fs::write(&log, text).unwrap();
    ok(resume(&parts, &["--stop-after", "80"]));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(parts.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["current"]["stage"], "policy");
    ok(resume(&parts, &[]));
    assert_eq!(metrics(&parts), metrics(&whole), "same seed, same device: the same metrics");

    let other = scratch("other-seed");
    ok(train(&other, &["--seed", "1", "--stop-after", "25"]));
    assert_ne!(metrics(&other)[0], metrics(&whole)[0], "another seed gives other numbers");
}

#[test]
fn unaligned_log_and_checkpoint_intervals_log_the_right_steps() {
    // Chunks end at multiples of either interval: 0-30, 30-45, 45-60, 60-90 here, against
    // 15-step chunks in the reference run. Chunks over the same steps must log the same loss.
    let quick = ["--stop-after", "90", "--set", "behaviour.steps=90", "--set", "critic.steps=30"];
    let unaligned = scratch("unaligned");
    ok(train(&unaligned, &[&quick[..], &["--set", "run.log_every=30", "--set", "run.checkpoint_every=45"]].concat()));
    let fine = scratch("fine");
    ok(train(&fine, &[&quick[..], &["--set", "run.log_every=15", "--set", "run.checkpoint_every=15"]].concat()));
    let loss_at = |records: &[Value], step: u64| {
        records.iter().find(|r| r["stage"] == "behaviour" && r["step"] == step).map(|r| r["loss"].as_f64().unwrap())
    };
    let (a, b) = (metrics(&unaligned), metrics(&fine));
    for step in [45, 60] {
        assert_eq!(loss_at(&a, step), loss_at(&b, step), "the loss of the 15 steps before step {step}");
    }
}

#[test]
fn a_missing_dataset_leaves_no_run_directory_behind() {
    let out = scratch("missing");
    let run = qipo(&["train", "--dataset", "/no/such/file.hdf5", "--preset", "smoke", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("/no/such/file.hdf5"));
    assert!(!out.exists(), "a failed start must not leave a run directory");
}

#[test]
fn a_diverging_run_stops_naming_the_stage_and_step() {
    let out = scratch("diverge");
    let run = train(&out, &["--set", "behaviour.lr=1e30"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error:")).expect("an error line");
    assert!(error.contains("behaviour diverged by step"), "{error}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["finished"], false);
}

#[test]
fn sample_draws_actions_for_dataset_and_csv_states() {
    let out = scratch("sample");
    ok(train(&out, &["--set", "policy.steps=50", "--set", "policy.renew_every=25"]));
    let csv = out.join("actions.csv");
    let args = ["sample", "--checkpoint", out.to_str().unwrap(), "--dataset", DATASET, "--limit", "10", "--n", "3"];
    ok(qipo(&[&args[..], &["--out", csv.to_str().unwrap()]].concat()));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("state,sample,a0,a1,a2"));
    let rows: Vec<Vec<f32>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| r[2..].iter().all(|a| (-1.0..=1.0).contains(a))), "actions within bounds");

    // States from a CSV file: the right width works, a wrong one is a one-line error.
    let states = out.join("states.csv");
    std::fs::write(&states, format!("{}\n{}\n", ["s"; 11].join(","), ["0.1"; 11].join(","))).unwrap();
    let csv2 = out.join("actions2.csv");
    ok(qipo(&[
        "sample",
        "--checkpoint",
        out.to_str().unwrap(),
        "--states",
        states.to_str().unwrap(),
        "--out",
        csv2.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(&csv2).unwrap().lines().count(), 2);
    std::fs::write(&states, "a,b\n1,2\n").unwrap();
    let bad = qipo(&[
        "sample",
        "--checkpoint",
        out.to_str().unwrap(),
        "--states",
        states.to_str().unwrap(),
        "--out",
        csv2.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("states.csv"));
}
