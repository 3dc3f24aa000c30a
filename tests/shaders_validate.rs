//! Every shader of the project parses and validates with naga, and a broken one is reported
//! as an error naming its file and line rather than a panic.

mod common;

use qipo::gpu::{Access, Kernel};

#[test]
fn every_kernel_validates_with_naga() {
    let kernels = qipo::kernels::all();
    assert!(kernels.len() >= 6, "kernel list looks incomplete: {}", kernels.len());
    for kernel in kernels {
        if let Err(e) = kernel.validate() {
            panic!("{}: {e:#}", kernel.key());
        }
    }
}

#[test]
fn every_shader_file_is_used_by_a_kernel() {
    // A WGSL file nobody compiles would escape validation: list shaders/ and check.
    let used: std::collections::HashSet<&str> =
        qipo::kernels::all().iter().flat_map(|k| k.sources.iter().map(|s| s.0)).collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                assert!(used.contains(rel.as_str()), "shaders/{rel} is not compiled by any kernel");
            }
        }
    }
}

const BROKEN: Kernel = Kernel {
    sources: &[("common/ok.wgsl", "const A: u32 = 1u;\n"), ("broken.wgsl", "fn f() -> u32 {\n    return A +;\n}\n")],
    entry: "main",
    bindings: &[Access::Read],
};

#[test]
fn a_broken_shader_is_a_clear_error() {
    let err = BROKEN.validate().unwrap_err().to_string();
    assert!(err.contains("broken.wgsl line 2"), "error should name the file and line: {err}");
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
}

#[test]
fn a_broken_shader_does_not_panic_the_device() {
    let err = common::gpu().pipeline(&BROKEN).err().expect("must fail").to_string();
    assert!(err.contains("broken.wgsl"), "{err}");
}
