//! `qipo compare` on hand-made evaluation files: runs and multi-seed runs are paired by
//! evaluation seed and episode, and the verdict is the mean paired difference with its
//! standard error. No GPU: compare only reads the runs' eval.json files.

mod cli_support;

use std::path::Path;

use cli_support::{fails, ok, qipo, scratch};
use serde_json::{json, Value};

fn write_eval(dir: &Path, seed: u64, scores: &[f64]) {
    std::fs::create_dir_all(dir).unwrap();
    let report = json!({
        "env": "halfcheetah-v5", "policy": "policy", "episodes": scores.len(), "seed": seed,
        "return_mean": 0.0, "return_stderr": 0.0, "score_mean": 0.0, "score_stderr": 0.0,
        "length_mean": 1000.0, "returns": scores, "scores": scores,
        "lengths": vec![1000; scores.len()], "seconds": 1.0, "env_steps_per_s": 1.0,
    });
    std::fs::write(dir.join("eval.json"), serde_json::to_string(&report).unwrap()).unwrap();
}

/// A multi-seed run directory: seeds.json and one run folder per seed.
fn write_seeds(dir: &Path, runs: &[(u64, &[f64])]) {
    let names: Vec<String> = runs.iter().map(|(s, _)| format!("seed{s}")).collect();
    for ((seed, scores), name) in runs.iter().zip(&names) {
        write_eval(&dir.join(name), 1000 + seed, scores);
    }
    let seeds: Vec<u64> = runs.iter().map(|(s, _)| *s).collect();
    std::fs::write(dir.join("seeds.json"), json!({ "seeds": seeds, "runs": names }).to_string()).unwrap();
}

#[test]
fn compare_pairs_the_episodes_of_two_multi_seed_runs() {
    let root = scratch("compare-seeds");
    let (a, b) = (root.join("qipo"), root.join("bc"));
    write_seeds(&a, &[(0, &[12.0, 14.0, 13.0]), (1, &[20.0, 22.0, 24.0])]);
    write_seeds(&b, &[(0, &[10.0, 13.0, 10.0]), (1, &[19.0, 21.0, 20.0])]);
    let out = ok(qipo(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]));
    let c: Value = serde_json::from_str(&out).unwrap();
    // Paired differences 2, 1, 3 and 1, 1, 4: mean 2, sample variance 1.6.
    assert_eq!(c["episodes"], 6);
    assert!((c["difference"].as_f64().unwrap() - 2.0).abs() < 1e-12);
    let stderr = (1.6f64 / 6.0).sqrt();
    assert!((c["difference_stderr"].as_f64().unwrap() - stderr).abs() < 1e-12);
    assert!((c["z"].as_f64().unwrap() - 2.0 / stderr).abs() < 1e-9);
    assert_eq!(c["seeds"][1]["eval_seed"], 1001);
    assert!((c["difference_stderr_over_seeds"].as_f64().unwrap()).abs() < 1e-12, "both seeds differ by 2 on average");

    let table = ok(qipo(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]));
    assert!(table.contains("A - B = +2.00 ± 0.52"), "{table}");
    assert!(table.contains("| 1001 | 3 | 22.0 | 20.0 | +2.0 ± 1.0 |"), "{table}");
}

#[test]
fn compare_accepts_single_runs_and_names_what_is_missing() {
    let root = scratch("compare-single");
    write_eval(&root.join("a"), 5, &[3.0, 4.0]);
    write_eval(&root.join("b"), 5, &[1.0, 1.0]);
    write_eval(&root.join("other"), 6, &[1.0, 1.0]);
    std::fs::create_dir_all(root.join("unfinished")).unwrap();
    let path = |name: &str| root.join(name).to_str().unwrap().to_string();

    let c: Value = serde_json::from_str(&ok(qipo(&["compare", &path("a"), &path("b"), "--json"]))).unwrap();
    assert_eq!(c["difference"], 2.5);
    assert_eq!(c["difference_stderr_over_seeds"], Value::Null);
    let by_file = ok(qipo(&["compare", &format!("{}/eval.json", path("a")), &path("b"), "--json"]));
    assert_eq!(serde_json::from_str::<Value>(&by_file).unwrap(), c);

    let err = fails(qipo(&["compare", &path("a"), &path("other")]));
    assert!(err.contains("evaluation seed 5"), "{err}");
    let err = fails(qipo(&["compare", &path("a"), &path("unfinished")]));
    assert!(err.contains("unfinished/eval.json does not exist"), "{err}");
    std::fs::write(root.join("broken.json"), "{").unwrap();
    let err = fails(qipo(&["compare", &path("a"), &path("broken.json")]));
    assert!(err.contains("broken.json: not an evaluation report"), "{err}");
}
