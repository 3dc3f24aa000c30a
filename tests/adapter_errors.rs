//! A missing adapter is a one-line error and a non-zero exit, never a panic.

use std::process::Command;

fn qipo(args: &[&str], backend: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qipo"));
    cmd.args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir());
    if let Some(b) = backend {
        cmd.env("WGPU_BACKEND", b);
    }
    cmd.output().unwrap()
}

fn one_error_line(output: &std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_string()
}

#[test]
fn unknown_adapter_name_or_index_lists_the_adapters() {
    let error = one_error_line(&qipo(&["--adapter", "no-such-gpu-anywhere", "info"], None));
    assert!(error.contains("no adapter named like 'no-such-gpu-anywhere'") && error.contains("0: "), "{error}");
    let error = one_error_line(&qipo(&["--adapter", "99", "info"], None));
    assert!(error.contains("adapter index 99 out of range"), "{error}");
}

#[test]
fn a_backend_without_adapters_is_a_clear_error() {
    // No DirectX 12 on Linux: the search finds nothing.
    if cfg!(target_os = "linux") {
        let error = one_error_line(&qipo(&["info"], Some("dx12")));
        assert!(error.contains("no GPU adapter found"), "{error}");
    }
}
