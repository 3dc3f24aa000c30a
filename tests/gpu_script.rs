//! benches/gpu_run.sh end to end with `--quick`, on whatever adapter the tests run on, so the
//! script a lent GPU runs once cannot rot: every step runs (PyTorch's only where python3 has
//! torch), every output file is there and parses, and the reproduction slice's table agrees
//! with the scores its runs recorded. The halfcheetah dataset is made on the spot from
//! ../shared/datasets/make_dataset.py where that is present. Speed is never asserted.

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::scratch;
use qipo::kernels::linear::Core;
use serde_json::Value;

/// The most files the device machine sends back from its output folder.
const MAX_FILES: usize = 8;

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn python_has_torch() -> bool {
    Command::new("python3").args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success())
}

/// The rows of the slice's markdown table: its cells, the header and rule left out.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let start = text.rfind("| dataset |").expect("the slice's table is printed");
    text[start..]
        .lines()
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_string()).collect())
        .collect()
}

/// "12.3 ± 0.4" as (mean, standard error).
fn mean_stderr(cell: &str) -> (f64, f64) {
    let (mean, stderr) = cell.split_once(" ± ").unwrap_or_else(|| panic!("'{cell}' is not 'mean ± stderr'"));
    (mean.parse().unwrap(), stderr.parse().unwrap())
}

/// `qipo bench kernels`: every core on the ladder at every shape, in the JSON and the table,
/// and the fastest core the one with the most GFLOP/s.
fn check_kernel_ladder(kernels: &Value, results: &str) {
    let ladder = Core::LADDER;
    for core in ladder {
        let label = format!("{} {}", core.number().unwrap(), core.name());
        assert!(results.contains(&label), "the kernels table lacks '{label}'");
    }
    let shapes = kernels["linear"].as_array().expect("linear");
    assert!(!shapes.is_empty());
    for shape in shapes {
        let cores = shape["cores"].as_array().expect("cores");
        let numbers: Vec<u64> = cores.iter().map(|c| c["core"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (1..=ladder.len() as u64).collect::<Vec<_>>(), "{shape}");
        assert!(numbers.contains(&shape["chosen_core"].as_u64().unwrap()), "{shape}");
        for pass in ["forward", "backward"] {
            let gflops: Vec<f64> = cores.iter().map(|c| c[format!("{pass}_gflops")].as_f64().unwrap()).collect();
            assert!(gflops.iter().all(|g| g.is_finite() && *g > 0.0), "{shape}");
            let fastest = shape[format!("fastest_{pass}_core")].as_u64().unwrap() as usize;
            assert!(gflops.iter().all(|&g| g <= gflops[fastest - 1]), "{pass}: {shape}");
        }
    }
}

#[test]
fn quick_gpu_script_writes_every_result_and_the_slice_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = scratch("gpu-run");
    let output = Command::new("bash")
        .arg(root.join("benches/gpu_run.sh"))
        .arg("--quick")
        .arg(&out)
        .env("QIPO", env!("CARGO_BIN_EXE_qipo"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = std::fs::read_to_string(out.join("log.txt")).unwrap_or_default();
    assert!(output.status.success(), "gpu_run.sh failed:\n{stderr}\nlog.txt:\n{log}");

    let files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.len() <= MAX_FILES, "{} files, the device machine returns {MAX_FILES}: {files:?}", files.len());

    let results = std::fs::read_to_string(out.join("results.md")).unwrap();
    for section in [
        "qipo info",
        "qipo bench",
        "qipo bench train --policy resnet --seeds 3",
        "qipo bench kernels",
        "reproduction slice",
    ] {
        assert!(results.contains(&format!("## {section}\n\n```\n")), "results.md lacks '{section}'");
    }
    assert!(json(&out.join("qipo_bench.json"))["environments"].as_array().is_some_and(|e| e.len() == 2));
    let presets_network = json(&out.join("qipo_train_resnet_seeds3.json"));
    assert_eq!(presets_network["sizes"]["seeds"], 3);
    assert!(presets_network["sizes"]["resnet"]["widths"].is_array(), "the residual network: {presets_network}");
    check_kernel_ladder(&json(&out.join("qipo_kernels.json")), &results);
    if python_has_torch() {
        for file in ["torch_eager.json", "torch_graphs.json"] {
            assert!(json(&out.join(file))["environments"].is_array(), "{file}");
        }
    } else {
        assert!(stderr.contains("PyTorch eager and graphs: skipped"), "{stderr}");
    }

    // Both datasets where the maker is there to make halfcheetah's, each with QIPO and flow BC.
    let maker = root.join("../shared/datasets/make_dataset.py");
    let slice = json(&out.join("reproduction.json"));
    let runs = slice["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), if maker.is_file() { 4 } else { 2 });
    for run in runs {
        assert_eq!(run["status"], "ok", "{run}");
        assert_eq!(run["evaluation"]["scores"].as_array().map(Vec::len), Some(3), "three seeds: {run}");
        assert_eq!(run["settings"]["policy"]["beta"] == 0.0, run["variant"] == "bc", "{run}");
        for stage in ["behaviour", "critic", "policy"] {
            assert_eq!(run["steps"][stage], run["settings"][stage]["steps"], "{stage}: {run}");
        }
    }

    // Each QIPO run's critic is checked against MuJoCo's returns.
    for run in runs.iter().filter(|r| r["variant"] == "qipo") {
        let dataset = run["dataset"].as_str().unwrap();
        let section = format!("## {dataset}: does the critic rank actions at a state like MuJoCo's returns (seed 0)\n\n```\ncritic ranking against");
        assert!(results.contains(&section), "results.md lacks the critic check of {dataset}");
    }

    // The table, printed last, gives each dataset's score and both runs' mean ± stderr.
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), runs.len() / 2, "{stdout}");
    for row in &rows {
        let [dataset, steps, data_score, bc, qipo] = &row[..] else { panic!("row {row:?}") };
        assert_eq!(steps.split(" / ").count(), 3, "{steps}");
        let inspected = slice["datasets"][dataset.as_str()]["score"].as_f64().unwrap();
        assert_eq!(data_score, &format!("{inspected:.1}"));
        for (cell, variant) in [(bc, "bc"), (qipo, "qipo")] {
            let run = runs.iter().find(|r| r["dataset"] == dataset.as_str() && r["variant"] == variant).unwrap();
            let evaluation = &run["evaluation"];
            let (mean, stderr) = mean_stderr(cell);
            assert!((mean - evaluation["score_mean"].as_f64().unwrap()).abs() <= 0.05, "{cell} vs {evaluation}");
            assert!((stderr - evaluation["score_stderr"].as_f64().unwrap()).abs() <= 0.05, "{cell} vs {evaluation}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}
