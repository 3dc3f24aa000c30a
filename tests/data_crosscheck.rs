//! `qipo dataset inspect --json` against an independent h5py/numpy computation
//! (tests/data_support/crosscheck.py) on the shipped file and on the variants the tests write.

mod data_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use data_support::{qipo, scratch_dir, shipped_dataset, write_d4rl, write_minari, D4rlLayout, Steps};
use serde_json::Value;

fn python_has_h5py() -> bool {
    Command::new("python3").args(["-c", "import h5py, numpy"]).output().is_ok_and(|output| output.status.success())
}

fn numpy_stats(path: &Path, env: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data_support/crosscheck.py");
    let output = Command::new("python3").arg(script).arg(path).arg(env).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn qipo_stats(path: &Path) -> Value {
    let output = qipo(&["dataset", "inspect", path.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn assert_same_statistics(path: &Path, env: &str) {
    let expected = numpy_stats(path, env);
    let actual = qipo_stats(path);
    for key in ["format", "transitions", "episodes", "obs_dim", "act_dim"] {
        assert_eq!(actual[key], expected[key], "{key} of {}", path.display());
    }
    assert_eq!(actual["env"], env);
    for key in ["return_mean", "return_min", "return_max", "normalized_score"] {
        let (a, e) = (actual[key].as_f64().unwrap(), expected[key].as_f64().unwrap());
        assert!((a - e).abs() <= 1e-9 * e.abs().max(1.0), "{key} of {}: {a} vs {e}", path.display());
    }
}

#[test]
fn inspect_agrees_with_h5py_and_numpy() {
    if !python_has_h5py() {
        eprintln!("note: python3 with h5py and numpy not found; skipping the cross-check");
        return;
    }
    let shipped = shipped_dataset();
    assert_same_statistics(&shipped, "hopper");

    let steps = Steps::read_d4rl(&shipped);
    let dir = scratch_dir();
    let variants: Vec<(PathBuf, D4rlLayout)> = vec![
        (
            dir.path().join("hopper-float64-uint8-v2.hdf5"),
            D4rlLayout { float64: true, uint8_flags: true, next_observations: false, timeouts: true },
        ),
        (
            dir.path().join("hopper-float32-bool-rebuilt-v2.hdf5"),
            D4rlLayout { next_observations: false, ..D4rlLayout::V2 },
        ),
        (dir.path().join("hopper-no-timeouts-v2.hdf5"), D4rlLayout { timeouts: false, ..D4rlLayout::V2 }),
    ];
    for (path, layout) in &variants {
        write_d4rl(path, &steps, *layout);
        assert_same_statistics(path, "hopper");
    }
    let minari = dir.path().join("hopper-medium-replay-minari.hdf5");
    write_minari(&minari, &steps);
    assert_same_statistics(&minari, "hopper");
}
