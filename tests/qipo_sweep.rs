//! `qipo sweep` end to end on the shipped dataset, on lavapipe: a grid of seeds × β × policy
//! learning rate trained in the same dispatches must give, in each cell, exactly the run of
//! that seed, β and learning rate alone;
//! the sweep resumes as a whole, sums up in results.md/json/png, and `qipo sweep report`
//! rebuilds them from the cells that have finished. Bad input is refused with one line and
//! leaves nothing behind; the Slurm script's array elements train the sweep part by part.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli_support::{
    assert_same, assert_same_checkpoint, fails, metrics_without_timings as metrics, ok, qipo, read_json, scratch,
};
use serde_json::{json, Value};

const DATASET: &str = cli_support::HOPPER;
const NAME: &str = "hopper-medium-replay-v2";

/// The shortened smoke preset, with one evaluation episode.
fn short() -> Vec<&'static str> {
    [&cli_support::SHORT_SMOKE[..], &["--set", "run.eval_episodes=1"]].concat()
}

fn sweep(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", "--dataset", DATASET, "--out", out.to_str().unwrap()];
    args.extend(short());
    args.extend_from_slice(extra);
    qipo(&args)
}

/// The run directory of seed `seed` in the cell named `cell` (`beta3-lr0.003`).
fn cell(out: &Path, cell: &str, seed: u64) -> PathBuf {
    out.join(NAME).join(cell).join(format!("seed{seed}"))
}

/// Seeds 7 and 8 × β 0 and 3 × policy learning rate 1e-3 (the smoke preset's) and 3e-3
/// trained together, interrupted and continued by the same command, against the runs of
/// (seed 7, β 3, lr 3e-3) and (seed 8, β 0, lr 1e-3) alone: every seed, β and learning rate
/// is checked, and the cells of one seed share its behaviour policy and critic.
#[test]
fn each_cell_of_a_grid_is_the_run_of_its_settings_alone() {
    let out = scratch("grid");
    let grid = ["--seeds", "2", "--seed", "7", "--set", "policy.beta=0,3", "--set", "policy.lr=1e-3,3e-3"];
    let stopped = ok(sweep(&out, &[&grid[..], &["--stop-after", "150"]].concat()));
    assert!(stopped.contains("run the same command to continue"), "{stopped}");
    assert!(!out.join("results.md").exists(), "no results before the grid is done");
    let done = ok(sweep(&out, &grid));
    assert!(done.contains("β = 0, lr = 0.001") && done.contains("β = 3, lr = 0.003"), "{done}");

    for (seed, beta, lr) in [(7u64, "3", "3e-3"), (8, "0", "1e-3")] {
        let alone = scratch(&format!("alone-{seed}-{beta}-{lr}"));
        let mut args = vec!["train", "--dataset", DATASET, "--out", alone.to_str().unwrap()];
        args.extend(short());
        let (seed_arg, beta_arg, lr_arg) = (seed.to_string(), format!("policy.beta={beta}"), format!("policy.lr={lr}"));
        args.extend_from_slice(&["--seed", &seed_arg, "--set", &beta_arg, "--set", &lr_arg]);
        ok(qipo(&args));
        let name = format!("beta{beta}-lr{}", lr.parse::<f64>().unwrap());
        let among = cell(&out, &name, seed);
        let what = format!("seed {seed}, β {beta}, lr {lr}");
        assert_same(&what, &Value::from(metrics(&alone)), &Value::from(metrics(&among)), 1e-4);
        assert_same(&what, &read_json(&alone.join("eval.json")), &read_json(&among.join("eval.json")), 1e-4);
        for stage in ["behaviour", "critic", "policy"] {
            assert_same_checkpoint(&alone, &among, stage);
        }
    }
    let policy_metrics = |name: &str| metrics(&cell(&out, name, 7));
    assert_ne!(policy_metrics("beta0-lr0.001"), policy_metrics("beta3-lr0.001"), "the values of β differ");
    assert_ne!(policy_metrics("beta3-lr0.001"), policy_metrics("beta3-lr0.003"), "the learning rates differ");

    // Cells learning rate by learning rate, β by β.
    let results = read_json(&out.join("results.json"));
    let cells = &results["datasets"][0]["cells"];
    assert_eq!(results["seeds"], json!([7, 8]));
    assert_eq!((&cells[0]["beta"], &cells[0]["lr"]), (&json!(0.0), &json!(0.001)));
    assert_eq!((&cells[3]["beta"], &cells[3]["lr"]), (&json!(3.0), &json!(0.003)));
    assert_eq!(cells[3]["finished"], json!(2));
    let score = |name: &str, seed: u64| read_json(&cell(&out, name, seed).join("eval.json"))["score_mean"].clone();
    assert_eq!(cells[3]["scores"], json!([score("beta3-lr0.003", 7), score("beta3-lr0.003", 8)]));
    assert_eq!(results["datasets"][0]["paper_score"], json!(101.2));
    let table = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(table.contains("| policy.lr |") && table.contains("| hopper-medium-replay-v2 | 0.003 |"), "{table}");
    assert!(table.contains("101.2"), "{table}");
    assert!(std::fs::read(out.join("results.png")).unwrap().starts_with(b"\x89PNG"));

    // A cell is an ordinary multi-seed run: evaluated, and resumed, alone.
    let seeds = read_json(&out.join(NAME).join("beta3-lr0.003").join("seeds.json"));
    assert_eq!(seeds["seeds"], json!([7, 8]));
    let resumed =
        ok(qipo(&["train", "--dataset", DATASET, "--resume", out.join(NAME).join("beta3-lr0.003").to_str().unwrap()]));
    assert!(resumed.contains("already finished"), "{resumed}");
    let checkpoint = cell(&out, "beta0-lr0.001", 8);
    let eval = ok(qipo(&["eval", "--checkpoint", checkpoint.to_str().unwrap(), "--episodes", "1", "--json"]));
    assert!(eval.contains("score_mean"), "{eval}");

    // The report marks what has not finished; the same sweep again does nothing.
    std::fs::remove_file(cell(&out, "beta3-lr0.003", 8).join("eval.json")).unwrap();
    let report = ok(qipo(&["sweep", "report", out.to_str().unwrap()]));
    assert!(report.contains("(1/2 seeds)"), "{report}");
    assert_eq!(read_json(&out.join("results.json"))["datasets"][0]["cells"][3]["scores"][1], Value::Null);
    let other = fails(sweep(&out, &["--seeds", "3", "--seed", "7", "--set", "policy.beta=0,3"]));
    assert!(other.contains("another sweep"), "{other}");
}

/// Each refusal is one line and creates nothing.
#[test]
fn bad_input_is_refused_in_one_line_and_leaves_nothing() {
    let copy = scratch("copy").join(format!("{NAME}.hdf5"));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(DATASET, &copy).unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--set", "critic.lr=1e-4,3e-4"], "not a policy-stage setting"),
        (&["--set", "policy.batch=64,128"], "not set per copy"),
        (&["--set", "policy.beta=1,high"], "policy.beta"),
        (&["--set", "policy.lr=1e-3,fast"], "policy.lr"),
        (&["--set", "policy.lr=1e-3,-1"], "policy.lr"),
        (&["--set", "policy.beta="], "empty"),
        (&["--dataset", copy.to_str().unwrap()], "share the sweep folder"),
        (&["--part", "1"], "--part 1"),
    ];
    for (i, (extra, expected)) in cases.iter().enumerate() {
        let out = scratch(&format!("bad-{i}"));
        let error = fails(sweep(&out, extra));
        assert!(error.contains(expected), "{extra:?}: {error}");
        assert_eq!(error.trim().lines().count(), 1, "{extra:?}: one line: {error}");
        assert!(!out.exists(), "{extra:?} created {}", out.display());
    }
    // No sbatch on PATH: no script is written.
    let out = scratch("no-sbatch");
    let script = scratch("no-sbatch.sbatch");
    let mut args = vec!["sweep", "--dataset", DATASET, "--out", out.to_str().unwrap()];
    args.extend_from_slice(&["--slurm", script.to_str().unwrap()]);
    let output = Command::new(env!("CARGO_BIN_EXE_qipo")).args(&args).env("PATH", "/nonexistent").output().unwrap();
    let error = fails(output);
    assert!(error.contains("sbatch is not on PATH"), "{error}");
    assert!(!out.exists() && !script.exists());
}

/// A stand-in for sbatch that logs its arguments and answers with a job id, as
/// `sbatch --parsable` does.
fn fake_sbatch(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("sbatch.log");
    let script = format!(
        "#!/bin/bash\nprintf '%s\\n' \"$@\" >> '{}'\necho ---- >> '{}'\necho 4242\n",
        log.display(),
        log.display()
    );
    let sbatch = dir.join("sbatch");
    std::fs::write(&sbatch, script).unwrap();
    Command::new("chmod").args(["+x", sbatch.to_str().unwrap()]).status().unwrap();
    log
}

/// The script Slurm would run: submitted, it sends the array and a report job depending on
/// it; run as array elements 0 and 1 (SLURM_ARRAY_TASK_ID as Slurm sets it), it trains each
/// dataset of the sweep, and the report job's command writes the table of both.
#[test]
fn the_slurm_script_trains_one_dataset_per_array_element() {
    let bin = scratch("bin");
    let log = fake_sbatch(&bin);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let second = scratch("second").join("hopper-second.hdf5");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::copy(DATASET, &second).unwrap();
    let out = scratch("slurm");
    let script = scratch("sweep.sbatch");
    let mut args = vec!["sweep", "--dataset", DATASET, second.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(short());
    args.extend_from_slice(&["--set", "policy.beta=3", "--slurm", script.to_str().unwrap(), "--slurm-gpus", "0"]);
    let run = |command: &mut Command| {
        command.env("PATH", &path).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
    };
    let wrote = ok(run(Command::new(env!("CARGO_BIN_EXE_qipo")).args(&args)));
    assert!(wrote.contains("2 elements"), "{wrote}");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-1") && text.contains("#SBATCH --time=24:00:00"), "{text}");
    assert!(!text.contains("--gpus"), "no GPU asked for: {text}");
    assert!(out.join("sweep.json").exists() && out.join("slurm").is_dir());

    let submitted = ok(run(Command::new("bash").arg(&script)));
    assert!(submitted.contains("4242"), "{submitted}");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains(script.to_str().unwrap()) && calls.contains("--dependency=afterany:4242"), "{calls}");
    let report = calls.lines().find_map(|l| l.strip_prefix("--wrap=")).expect("the report job").to_string();
    assert!(report.contains("sweep report"), "{report}");

    for element in ["0", "1"] {
        ok(run(Command::new("bash").arg(&script).env("SLURM_ARRAY_TASK_ID", element)));
    }
    assert!(!out.join("results.md").exists(), "array elements leave the results to the report job");
    ok(run(Command::new("bash").args(["-c", &report])));
    let results = read_json(&out.join("results.json"));
    for (d, name) in [NAME, "hopper-second"].iter().enumerate() {
        assert_eq!(results["datasets"][d]["name"], json!(name));
        assert_eq!(results["datasets"][d]["cells"][0]["finished"], json!(1), "{results}");
        assert!(results["datasets"][d]["cells"][0]["score_mean"].is_number(), "{results}");
    }
}
