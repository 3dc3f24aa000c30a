//! Statistics, environment detection, D4RL scores and `qipo dataset inspect`.

mod data_support;

use data_support::{
    append_file, load_tiny, qipo, scratch_dir, shipped_dataset, write_d4rl, write_string_attribute, D4rlLayout, Steps,
};
use qipo::data::{Dataset, Env, Summary};

#[test]
fn summary_counts_episodes_the_d4rl_way() {
    let (_dir, dataset) = load_tiny("walker2d-tiny-v2.hdf5");
    let summary = Summary::of(&dataset);

    assert_eq!((summary.transitions, summary.steps, summary.episodes), (7, 7, 3));
    assert_eq!((summary.terminal_episodes, summary.timeout_episodes, summary.unfinished_episodes), (1, 1, 1));
    assert_eq!(summary.terminals, 1);
    assert_eq!((summary.return_min, summary.return_max), (6.0, 13.0));
    assert!((summary.return_mean - 28.0 / 3.0).abs() < 1e-12);
    assert_eq!(summary.env, Some(Env::Walker2d));
    let expected = 100.0 * (28.0 / 3.0 - 1.629008) / (4592.3 - 1.629008);
    assert!((summary.normalized_score.unwrap() - expected).abs() < 1e-9);
}

#[test]
fn the_environment_comes_from_attributes_before_the_file_name() {
    let dir = scratch_dir();
    let path = dir.path().join("hopper-but-really.hdf5");
    write_d4rl(&path, &Steps::tiny(), D4rlLayout::V2);
    write_string_attribute(&append_file(&path), "env_id", "HalfCheetah-v5");
    assert_eq!(Dataset::load(&path).unwrap().env, Some(Env::HalfCheetah));

    let (_dir, unnamed) = load_tiny("custom.hdf5");
    assert_eq!(unnamed.env, None);
    assert_eq!(Summary::of(&unnamed).normalized_score, None);
}

#[test]
fn environment_names_are_found_in_dataset_and_env_ids() {
    let cases = [
        ("hopper-medium-replay-v2.hdf5", Some(Env::Hopper)),
        ("halfcheetah-medium-expert-v2", Some(Env::HalfCheetah)),
        ("Walker2d-v5", Some(Env::Walker2d)),
        ("AntMaze_UMaze-v4", Some(Env::AntMaze)),
        ("antmaze-large-diverse-v2", Some(Env::AntMaze)),
        ("pen-human-v1", None),
    ];
    for (name, expected) in cases {
        assert_eq!(Env::find_in(name), expected, "{name}");
    }
    let minari = std::path::Path::new("/data/mujoco/hopper/medium-v0/data/main_data.hdf5");
    assert_eq!(Env::find_in_path(minari), Some(Env::Hopper));
    assert!("cartpole".parse::<Env>().unwrap_err().contains("unknown environment 'cartpole'"));
}

#[test]
fn reference_returns_and_scores_match_d4rl() {
    assert_eq!(Env::Hopper.normalized_score(3234.3), 100.0);
    assert_eq!(Env::HalfCheetah.normalized_score(-280.178953), 0.0);
    assert_eq!(Env::AntMaze.normalized_score(0.5), 50.0);
    let walker = Env::Walker2d.reference_returns();
    assert_eq!((walker.random, walker.expert), (1.629008, 4592.3));
}

#[test]
fn inspect_prints_a_table_and_a_json_object() {
    let path = shipped_dataset();
    let path = path.to_str().unwrap();
    let table = qipo(&["dataset", "inspect", path]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    for row in ["source", "D4RL", "hopper", "transitions", "20000", "reference returns", "normalised score"] {
        assert!(table.contains(row), "{table}");
    }

    let json = qipo(&["dataset", "inspect", path, "--json", "--env", "walker2d"]);
    assert!(json.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["env"], "walker2d", "--env overrides the file name");
    assert_eq!(summary["format"], "d4rl");
    assert_eq!(summary["transitions"], 20000);
    let mean = summary["return_mean"].as_f64().unwrap();
    let score = summary["normalized_score"].as_f64().unwrap();
    assert!((score - Env::Walker2d.normalized_score(mean)).abs() < 1e-9);
    assert_eq!(summary["warnings"], serde_json::json!([]));
}

#[test]
fn inspect_reports_warnings_on_stderr_and_in_the_json() {
    let mut steps = Steps::tiny();
    steps.actions[0] = -2.0;
    let dir = scratch_dir();
    let path = dir.path().join("custom.hdf5");
    write_d4rl(&path, &steps, D4rlLayout::V2);
    let output = qipo(&["dataset", "inspect", path.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with(&format!("warning: {}: ", path.display())), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(summary["env"], serde_json::Value::Null);
    assert_eq!(summary["normalized_score"], serde_json::Value::Null);
}
