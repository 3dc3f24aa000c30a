//! `qipo bench --quick --json` through the built binary, on whatever adapter the tests run
//! on: the JSON object's structure, and every measurement positive and finite. Speed itself
//! is never asserted.

mod cli_support;

use cli_support::qipo;
use serde_json::Value;

fn positive(value: &Value, what: &str) -> f64 {
    let x = value.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

#[test]
fn bench_quick_json_reports_every_measurement() {
    let output = qipo(&["bench", "--quick", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "qipo bench failed: {stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");

    assert_eq!(text(&summary["qipo_version"], "qipo_version"), env!("CARGO_PKG_VERSION"));
    let date = text(&summary["date"], "date");
    assert!(
        date.len() == 10
            && date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() }),
        "date {date}"
    );
    for key in ["description", "name", "backend", "device_type", "driver", "driver_info"] {
        text(&summary["device"][key], key);
    }
    assert!(!text(&summary["device"]["name"], "device name").is_empty());
    assert_eq!(summary["quick"], Value::Bool(true));
    assert_eq!(summary["sizes"]["batch"], 32);
    assert_eq!(summary["sizes"]["support_actions"], 4);
    assert_eq!(summary["sizes"]["hidden"], 64);

    let envs = summary["environments"].as_array().expect("environments");
    let names: Vec<&str> = envs.iter().map(|e| text(&e["env"], "env")).collect();
    assert_eq!(names, ["hopper", "halfcheetah"]);
    for env in envs {
        let stages = env["stages"].as_array().expect("stages");
        let stage_names: Vec<&str> = stages.iter().map(|s| text(&s["stage"], "stage")).collect();
        assert_eq!(stage_names, ["behaviour pretraining", "critic (softmax)", "critic (IQL)", "policy improvement"]);
        for stage in stages {
            let steps_per_s = positive(&stage["steps_per_s"], "steps_per_s");
            let per_100k = positive(&stage["seconds_per_100k"], "seconds_per_100k");
            assert!((steps_per_s * per_100k / 1e5 - 1.0).abs() < 1e-9);
        }
        let sampling = &env["sampling"];
        for key in ["renewal_s", "support_sampling_s", "support_actions_per_s", "action_latency_ms"] {
            positive(&sampling[key], key);
        }
    }

    let linear = summary["linear"].as_array().expect("linear");
    assert!(!linear.is_empty());
    let peak = &summary["peak"];
    let source = text(&peak["source"], "peak source");
    for layer in linear {
        for key in ["rows", "in_dim", "out_dim"] {
            assert!(layer[key].as_u64().is_some_and(|n| n > 0), "{key}");
        }
        for (gflops, fraction) in
            [("forward_gflops", "forward_fraction_of_peak"), ("backward_gflops", "backward_fraction_of_peak")]
        {
            let g = positive(&layer[gflops], gflops);
            // A fraction exactly where a peak is known (a GPU in the spec-sheet table).
            if peak["gflops"].is_null() {
                assert_eq!(source, "unknown");
                assert!(layer[fraction].is_null(), "{fraction} without a peak");
            } else {
                assert!(source.starts_with("spec sheet: "), "{source}");
                let p = positive(&peak["gflops"], "peak gflops");
                assert!((positive(&layer[fraction], fraction) - g / p).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn bench_arguments_are_checked_before_any_work() {
    let output = qipo(&["bench", "--peak-gflops", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--peak-gflops"));

    // The summary's flags belong to bare `qipo bench`, not to its subcommands.
    let output = qipo(&["bench", "--quick", "train"]);
    assert!(!output.status.success());
}

/// The stages' dispatches per step, by environment and stage, of `qipo bench train --quick`
/// with `seeds` seeds and `betas` values of β per seed.
fn train_bench_dispatches(seeds: u64, betas: u64) -> Vec<(String, f64)> {
    let (seeds_arg, betas_arg) = (seeds.to_string(), betas.to_string());
    let output = qipo(&["bench", "train", "--quick", "--seeds", &seeds_arg, "--betas", &betas_arg, "--json"]);
    assert!(output.status.success(), "qipo bench train failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(results["sizes"]["seeds"], seeds);
    assert_eq!(results["sizes"]["betas"], betas);
    let mut dispatches = Vec::new();
    for env in results["environments"].as_array().expect("environments") {
        for stage in env["stages"].as_array().expect("stages") {
            positive(&stage["steps_per_s"], "steps_per_s");
            let name = format!("{} {}", text(&env["env"], "env"), text(&stage["stage"], "stage"));
            dispatches.push((name, positive(&stage["dispatches_per_step"], "dispatches_per_step")));
        }
    }
    dispatches
}

/// Dispatches per step of each stage at the quick sizes (MLPs of four layers, no gradient
/// clipping): behaviour pretraining, the softmax critic, the IQL critic, policy improvement.
/// Fewer means fused kernels; more means a change added dispatches to a training step.
const STAGE_DISPATCHES: [(&str, f64); 4] =
    [("behaviour pretraining", 14.0), ("critic (softmax)", 19.0), ("critic (IQL)", 32.0), ("policy improvement", 13.0)];

/// Seeds trained together share their dispatches: a step of three seeds records exactly the
/// dispatches of a step of one, in every stage, and as many as [`STAGE_DISPATCHES`] says. So
/// does a grid of two values of β for each of the three seeds (`qipo sweep`'s policy stage).
#[test]
fn bench_train_with_seeds_batches_the_seeds_into_the_same_dispatches() {
    let (one, mut three) = (train_bench_dispatches(1, 1), train_bench_dispatches(3, 2));
    let grid: Vec<(String, f64)> = three.iter().filter(|(stage, _)| stage.contains(" × 2 β")).cloned().collect();
    three.retain(|(stage, _)| !stage.contains(" × 2 β"));
    assert_eq!(grid.len(), 2, "one grid line per environment: {grid:?}");
    for (stage, dispatches) in &grid {
        assert!(stage.contains("policy improvement, 3 seeds × 2 β"), "{stage}");
        let (_, improvement) = STAGE_DISPATCHES[3];
        assert_eq!(*dispatches, improvement, "{stage}: dispatches per step");
    }
    assert_eq!(one.len(), three.len());
    for ((stage, single), (_, seeds)) in one.iter().zip(&three) {
        assert_eq!(single, seeds, "{stage}: dispatches per step for one seed and for three");
        let (_, expected) = STAGE_DISPATCHES
            .iter()
            .find(|(name, _)| stage.ends_with(name))
            .unwrap_or_else(|| panic!("no expected dispatch count for {stage}"));
        assert_eq!(single, expected, "{stage}: dispatches per step");
    }
}
