//! `qipo toy` from the command line: the files it writes, user CSV data, and bad input.

mod cli_support;

use std::path::{Path, PathBuf};

use cli_support::qipo;

/// An empty scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = cli_support::scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny run: seconds on lavapipe, enough to check the plumbing (not the accuracy).
const TINY: [&str; 12] =
    ["--steps", "40", "--batch", "64", "--hidden", "16", "--samples", "300", "--euler-steps", "10", "--seed", "3"];

fn check_outputs(out: &Path, dim_header: &str, rows: usize) -> serde_json::Value {
    let samples = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    let mut lines = samples.lines();
    assert_eq!(lines.next(), Some(dim_header));
    assert_eq!(lines.count(), rows);
    let png = std::fs::read(out.join("toy.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "toy.png is not a PNG");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for key in ["energy_distance", "noise_floor", "data_to_target", "closed_fraction", "config"] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}: {metrics}");
    }
    assert!(metrics["energy_distance"].as_f64().unwrap() >= 0.0);
    metrics
}

#[test]
fn builtin_dataset_writes_samples_metrics_and_plot() {
    let out = scratch("builtin");
    let mut args = vec!["toy", "--dataset", "swissroll", "--beta", "2", "--data-points", "3000", "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(&TINY);
    let run = qipo(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let metrics = check_outputs(&out, "x,y", 300);
    assert_eq!(metrics["config"]["beta"], 2.0);
    assert_eq!(metrics["source"], "swissroll");
}

#[test]
fn csv_data_with_three_coordinates() {
    let out = scratch("csv");
    let csv = out.join("points.csv");
    let mut text = String::from("a,b,c,energy\n");
    for i in 0..400 {
        let x = i as f32 / 40.0;
        text += &format!("{},{},{},{}\n", x.sin() * 100.0, x.cos() + 50.0, x, (i % 7) as f32 / 7.0);
    }
    std::fs::write(&csv, text).unwrap();
    let out_dir = out.join("run");
    let mut args = vec!["toy", "--data", csv.to_str().unwrap(), "--beta", "3", "--out", out_dir.to_str().unwrap()];
    args.extend_from_slice(&TINY);
    let run = qipo(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    check_outputs(&out_dir, "x0,x1,x2", 300);
}

#[test]
fn bad_input_is_one_line_naming_the_file() {
    let out = scratch("bad");
    let csv = out.join("bad.csv");
    std::fs::write(&csv, "x,y,energy\n1,2,3\n4,oops,6\n").unwrap();
    let run = qipo(&["toy", "--data", csv.to_str().unwrap(), "--beta", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("bad.csv"), "{stderr}");

    let missing = out.join("missing.csv");
    let run = qipo(&["toy", "--data", missing.to_str().unwrap(), "--beta", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("missing.csv"));

    // Neither --dataset nor --data: a usage error from clap.
    let run = qipo(&["toy", "--beta", "1", "--out", out.to_str().unwrap()]);
    assert!(!run.status.success());
}
