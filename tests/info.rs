//! `qipo info --json`: the self-test covers every kernel of the project, and all of it
//! passes on the test machine's adapter.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn selftest_covers_every_kernel_and_passes() {
    let output = Command::new(env!("CARGO_BIN_EXE_qipo"))
        .args(["info", "--json"])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("qipo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "qipo info failed: {stderr}");
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).expect("qipo info --json prints JSON");
    let checks = info["selftest"].as_array().expect("a selftest array");

    let known: BTreeSet<String> = qipo::kernels::all().iter().map(|k| k.key()).collect();
    let mut covered = BTreeSet::new();
    for check in checks {
        let name = check["name"].as_str().expect("each check has a name");
        assert_eq!(check["passed"], true, "self-test check '{name}' failed: {check}");
        let kernels = check["kernels"].as_array().expect("each check lists its kernels");
        assert!(!kernels.is_empty(), "check '{name}' names no kernel");
        for kernel in kernels {
            let key = kernel.as_str().expect("kernel keys are strings").to_string();
            assert!(known.contains(&key), "check '{name}' names '{key}', which is not in qipo::kernels::all()");
            covered.insert(key);
        }
    }
    let missing: Vec<&String> = known.difference(&covered).collect();
    assert!(missing.is_empty(), "kernels without a self-test check: {missing:?}");
}
