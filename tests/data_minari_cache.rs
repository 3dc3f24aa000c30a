//! Minari datasets by name: a local cache made by the `minari` package itself
//! (tests/python/make_minari.py, nothing downloaded), read by id with its metadata.json, scored
//! with its own reference returns in `qipo dataset inspect`, `qipo eval` and `qipo train`, and
//! the ways a cache can be wrong.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use cli_support::{fails, ok};
use serde_json::Value;

const ID: &str = "mujoco/hopper/tiny-v0";
/// The references make_minari.py gives minari, far from D4RL's hopper returns.
const REF_MIN: f64 = -10.0;
const REF_MAX: f64 = 1000.0;

/// The cache, made once per test binary, and what minari read back from it.
fn cache() -> &'static (PathBuf, Value) {
    static CACHE: OnceLock<(PathBuf, Value)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let root = cli_support::scratch("minari");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/make_minari.py");
        let python = std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".into());
        let output = Command::new(python)
            .args([script, ID, "3", "20"])
            .env("MINARI_DATASETS_PATH", &root)
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "make_minari.py: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        (root, serde_json::from_str(&stdout).expect("make_minari.py prints JSON"))
    })
}

/// A copy of the cache in a folder of its own, for a test that changes it.
fn copy_of_cache(name: &str) -> PathBuf {
    let root = cli_support::scratch(name);
    let status = Command::new("cp").arg("-r").arg(&cache().0).arg(&root).status().unwrap();
    assert!(status.success());
    root
}

fn metadata_file(root: &Path) -> PathBuf {
    root.join(ID).join("data/metadata.json")
}

/// `qipo` with `root` as the Minari cache.
fn qipo_in(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qipo"))
        .args(args)
        .env("MINARI_DATASETS_PATH", root)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).expect("--json prints one JSON object")
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[cfg(feature = "mujoco")]
fn score(episode_return: f64) -> f64 {
    100.0 * (episode_return - REF_MIN) / (REF_MAX - REF_MIN)
}

#[test]
fn an_id_reads_the_cache_minari_wrote_and_scores_with_its_references() {
    let (root, minari) = cache();
    let summary = json(qipo_in(root, &["dataset", "inspect", ID, "--json"]));
    assert_eq!(summary["format"], "minari");
    assert_eq!(summary["id"], ID);
    assert_eq!(summary["env"], "hopper");
    assert_eq!(summary["eval_env"], minari["eval_env"]);
    assert_eq!(summary["episodes"], minari["episodes"]);
    assert_eq!(summary["steps"], minari["steps"]);
    let returns = floats(&minari["returns"]);
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    // qipo keeps rewards in f32: the sums agree to its rounding.
    assert!((summary["return_mean"].as_f64().unwrap() - mean).abs() < 1e-5, "{summary}");
    // 100 × minari.get_normalized_score, with the metadata's references (not D4RL's).
    let expected = 100.0 * minari["normalized_score_of_mean"].as_f64().unwrap();
    assert!((summary["normalized_score"].as_f64().unwrap() - expected).abs() < 1e-6, "{summary}");
    assert_eq!(summary["references"]["from"], "minari");
    assert_eq!(summary["reference_min"], REF_MIN);
    assert_eq!(summary["reference_max"], REF_MAX);
    let metadata = metadata_file(root);
    assert_eq!(summary["references"]["file"], metadata.to_str().unwrap());

    // The table says the same, and where the references come from.
    let table = ok(qipo_in(root, &["dataset", "inspect", ID]));
    assert!(table.contains("Minari") && table.contains("Hopper-v5"), "{table}");
    assert!(table.contains(&format!("{REF_MIN} to {REF_MAX}, from ref_min_score and ref_max_score of")), "{table}");

    // The transitions are minari's: its first observation and action, in f32.
    let dataset = qipo::data::Dataset::open(root.join(ID).join("data/main_data.hdf5")).unwrap();
    let as_f32 = |value: &Value| floats(value).iter().map(|&x| x as f32).collect::<Vec<f32>>();
    assert_eq!(dataset.observation(0), as_f32(&minari["first_observation"]));
    assert_eq!(dataset.action(0), as_f32(&minari["first_action"]));
    // The file's own metadata.json is read beside it, also when it is given by path.
    assert_eq!(dataset.id.as_deref(), Some(ID));
}

#[test]
#[cfg(feature = "mujoco")]
fn eval_scores_with_the_datasets_references_in_its_environment() {
    let (root, _) = cache();
    let report =
        json(qipo_in(root, &["eval", "--json", "--policy", "zero", "--dataset", ID, "--episodes", "2", "--seed", "1"]));
    assert_eq!(report["env"], "hopper-v5", "Minari's MuJoCo data are gymnasium v5");
    assert_eq!(report["score_name"], "normalised score");
    for (r, s) in floats(&report["returns"]).iter().zip(floats(&report["scores"])) {
        assert!((score(*r) - s).abs() < 1e-9, "return {r}, score {s}");
    }
}

#[test]
#[cfg(feature = "mujoco")]
fn train_and_evaluate_a_minari_id_in_one_command() {
    let (root, _) = cache();
    let out = cli_support::scratch("run");
    let out_arg = out.to_str().unwrap();
    let tiny = [
        "--preset",
        "smoke",
        "--set",
        "behaviour.steps=20",
        "--set",
        "critic.steps=10",
        "--set",
        "policy.steps=20",
        "--set",
        "policy.renew_every=10",
        "--set",
        "run.log_every=10",
        "--set",
        "run.eval_episodes=2",
        "--set",
        "support.euler_steps=2",
    ];
    let mut args = vec!["train", "--dataset", ID, "--out", out_arg];
    args.extend_from_slice(&tiny);
    let output = qipo_in(root, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ok(output);
    assert!(stderr.contains("normalised score") && stderr.contains("the dataset's references"), "{stderr}");

    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("eval_env = \"hopper-v5\""), "{config}");
    assert!(config.contains("score = \"reference\""), "{config}");
    assert!(config.contains(&format!("ref_min_score = {REF_MIN}")), "{config}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["env"], "hopper-v5");
    for (r, s) in floats(&report["returns"]).iter().zip(floats(&report["scores"])) {
        assert!((score(*r) - s).abs() < 1e-9, "return {r}, score {s}");
    }
    // `qipo eval` of the run scores the same way without the cache.
    let again =
        json(qipo_in(Path::new("/nonexistent"), &["eval", "--json", "--checkpoint", out_arg, "--episodes", "2"]));
    assert_eq!(again["score_name"], "normalised score");
    for (r, s) in floats(&again["returns"]).iter().zip(floats(&again["scores"])) {
        assert!((score(*r) - s).abs() < 1e-9, "return {r}, score {s}");
    }
}

#[test]
fn an_id_missing_from_the_cache_says_where_it_looked_and_how_to_download() {
    let (root, _) = cache();
    let message = fails(qipo_in(root, &["dataset", "inspect", "mujoco/hopper/medium-v0"]));
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    let looked = root.join("mujoco/hopper/medium-v0/data/main_data.hdf5");
    assert!(message.contains(looked.to_str().unwrap()), "{message}");
    assert!(message.contains("minari download mujoco/hopper/medium-v0"), "{message}");
}

#[test]
fn an_id_without_its_metadata_is_refused_naming_the_file() {
    let root = copy_of_cache("no-metadata");
    std::fs::remove_file(metadata_file(&root)).unwrap();
    let message = fails(qipo_in(&root, &["dataset", "inspect", ID]));
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains(metadata_file(&root).to_str().unwrap()) && message.contains("not found"), "{message}");

    std::fs::write(metadata_file(&root), "{\"ref_min_score\": ").unwrap();
    let message = fails(qipo_in(&root, &["dataset", "inspect", ID]));
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.contains(metadata_file(&root).to_str().unwrap()) && message.contains("not valid JSON"),
        "{message}"
    );
}

#[test]
fn metadata_without_references_leaves_scores_unnormalised_and_says_so() {
    let root = copy_of_cache("no-references");
    let file = metadata_file(&root);
    let mut metadata: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let fields = metadata.as_object_mut().unwrap();
    assert!(fields.remove("ref_min_score").is_some() && fields.remove("ref_max_score").is_some());
    std::fs::write(&file, metadata.to_string()).unwrap();

    let output = qipo_in(&root, &["dataset", "inspect", ID, "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = json(output);
    assert!(stderr.contains("scores are unnormalised returns") && stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert_eq!(summary["normalized_score"], Value::Null);
    assert_eq!(summary["references"]["from"], "unnormalised");

    #[cfg(feature = "mujoco")]
    {
        let args = ["eval", "--json", "--policy", "zero", "--dataset", ID, "--episodes", "2"];
        let report = json(qipo_in(&root, &args));
        assert_eq!(report["scores"], report["returns"], "no references: the score is the return");
        assert!(report["score_reference"].as_str().unwrap().contains("unnormalised"), "{report}");
    }
}
