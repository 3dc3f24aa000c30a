//! OGBench's single-task datasets by name: a file in OGBench's layout
//! (tests/python/make_ogbench.py) read with the rewards and masks OGBench's own loader gives,
//! trained and evaluated in one command, and one-line errors for bad files and names.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cli_support::{fails, ok, qipo};
use qipo::data::{Dataset, EpisodeEnd, Format};
use serde_json::Value;

const NAME: &str = "antmaze-medium-navigate-singletask-task1-v0";

/// The data folder, made once per test binary, and what OGBench's loader made of it.
fn data() -> &'static (PathBuf, Value) {
    static DATA: OnceLock<(PathBuf, Value)> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = cli_support::scratch("ogbench");
        let output =
            python(&[concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/make_ogbench.py"), dir.to_str().unwrap()]);
        (dir, serde_json::from_str(&output).expect("make_ogbench.py prints JSON"))
    })
}

fn python(args: &[&str]) -> String {
    let python = std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python).args(args).current_dir(std::env::temp_dir()).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

#[test]
fn transitions_rewards_and_masks_are_ogbenchs() {
    let (dir, ogbench) = data();
    let dataset = Dataset::open(dir.join(NAME)).unwrap();
    assert_eq!(dataset.format, Format::OgBench);
    assert_eq!(dataset.source, dir.join("antmaze-medium-navigate-v0.npz"));
    assert_eq!(dataset.eval_env.as_deref(), Some("antmaze-medium-singletask-task1-v0"));
    assert_eq!(dataset.len() as u64, ogbench["rows"].as_u64().unwrap());
    assert_eq!(dataset.rewards, floats(&ogbench["rewards"]));
    // The TD target stops where OGBench's mask is 0: the task is solved there.
    let done: Vec<f32> = floats(&ogbench["masks"]).iter().map(|m| 1.0 - m).collect();
    assert_eq!(dataset.terminals, done);
    assert!(done.contains(&1.0) && done.contains(&0.0), "the file has solved rows");
    assert_eq!(dataset.next_observation(0), floats(&ogbench["next_observation_0"]));
    assert_eq!(dataset.observation(dataset.len() - 1), floats(&ogbench["observation_last"]));
    // Two trajectories of 30 steps, 29 transitions each; OGBench's terminals end them.
    let ends: Vec<usize> =
        floats(&ogbench["terminals"]).iter().enumerate().filter(|(_, &t)| t == 1.0).map(|(i, _)| i + 1).collect();
    assert_eq!(dataset.episodes.iter().map(|e| e.end).collect::<Vec<_>>(), ends);
    assert!(dataset.episodes.iter().all(|e| e.ending == EpisodeEnd::Timeout));

    let summary: Value =
        serde_json::from_str(&ok(qipo(&["dataset", "inspect", dir.join(NAME).to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!(summary["format"], "ogbench");
    assert_eq!(summary["references"]["from"], "ogbench");
    assert_eq!(summary["normalized_score"], Value::Null);
}

#[test]
#[cfg(feature = "mujoco")]
fn train_and_evaluate_an_ogbench_task_in_one_command() {
    let (dir, _) = data();
    let out = cli_support::scratch("run");
    let dataset = dir.join(NAME);
    let args = [
        "train",
        "--dataset",
        dataset.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--preset",
        "smoke",
        "--set",
        "behaviour.steps=10",
        "--set",
        "critic.steps=10",
        "--set",
        "policy.steps=10",
        "--set",
        "policy.renew_every=10",
        "--set",
        "run.log_every=10",
        "--set",
        "run.eval_episodes=1",
        "--set",
        "support.euler_steps=2",
    ];
    let output = qipo(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ok(output);
    assert!(stderr.contains("success score") && stderr.contains("success rate"), "{stderr}");
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("eval_env = \"antmaze-medium-singletask-task1-v0\""), "{config}");
    assert!(config.contains("score = \"success\""), "{config}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["env"], "antmaze-medium-singletask-task1-v0");
    let success = report["success_rate"].as_f64().unwrap();
    assert_eq!(report["score_mean"].as_f64().unwrap(), 100.0 * success, "OGBench's unit: 100 × success");
    // A maze step costs 1 until the goal: the return says how long the episode ran.
    assert_eq!(report["returns"][0].as_f64().unwrap(), -(report["lengths"][0].as_f64().unwrap()) + success);
}

/// Writes `DIR/antmaze-medium-navigate-v0.npz` from the good file, changed by `edit` (Python
/// over the dict of arrays `d`).
fn broken_copy(name: &str, edit: &str) -> PathBuf {
    let dir = cli_support::scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    let good = data().0.join("antmaze-medium-navigate-v0.npz");
    let bad = dir.join("antmaze-medium-navigate-v0.npz");
    let script = format!(
        "import numpy as np; d = dict(np.load({good:?})); {edit}; np.savez({bad:?}, **d)",
        good = good.to_str().unwrap(),
        bad = bad.to_str().unwrap()
    );
    python(&["-c", &script]);
    dir
}

fn assert_one_line_naming(message: &str, file: &Path, problem: &str) {
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains(file.to_str().unwrap()) && message.contains(problem), "{message}");
}

#[test]
fn bad_files_and_names_are_one_line_errors_naming_them() {
    let dir = broken_copy("no-qpos", "del d['qpos']");
    let message = fails(qipo(&["dataset", "inspect", dir.join(NAME).to_str().unwrap()]));
    assert_one_line_naming(&message, &dir.join("antmaze-medium-navigate-v0.npz"), "no 'qpos' array");

    let dir = broken_copy("short-actions", "d['actions'] = d['actions'][:-3]");
    let message = fails(qipo(&["dataset", "inspect", dir.join(NAME).to_str().unwrap()]));
    assert_one_line_naming(
        &message,
        &dir.join("antmaze-medium-navigate-v0.npz"),
        "length mismatch: 'actions' has 57 rows",
    );

    let dir = &data().0;
    let unknown_task = dir.join("antmaze-medium-navigate-singletask-task9-v0");
    let message = fails(qipo(&["dataset", "inspect", unknown_task.to_str().unwrap()]));
    assert_one_line_naming(&message, &dir.join("antmaze-medium-navigate-v0.npz"), "does not know the task");

    let unknown_env = dir.join("antmaze-huge-navigate-singletask-v0");
    let message = fails(qipo(&["dataset", "inspect", unknown_env.to_str().unwrap()]));
    assert_one_line_naming(&message, &unknown_env, "qipo runs OGBench's single-task");

    let missing = dir.join("antmaze-large-navigate-singletask-v0");
    let message = fails(qipo(&["dataset", "inspect", missing.to_str().unwrap()]));
    assert_one_line_naming(&message, &dir.join("antmaze-large-navigate-v0.npz"), "ogbench.download_datasets");
}
