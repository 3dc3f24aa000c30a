//! The CPU reference (`src/reference/`) is a leaf: it and every module it uses are free of
//! the GPU, so it stays an independent check of the kernels. A scan of the source: each
//! `crate::` or `super::` path in those files must lie in a module of `GPU_FREE`, and none
//! of them may name wgpu.

use std::path::{Path, PathBuf};

/// The modules the reference may use, besides its own: plain descriptions (shapes, specs,
/// settings, random counters) with no GPU code in them.
const GPU_FREE: [&str; 18] = [
    "crate::reference",
    "crate::ops",
    "crate::random",
    "crate::nn::activation",
    "crate::nn::init",
    "crate::nn::mlp_spec",
    "crate::nn::resnet_spec",
    "crate::flow::spec",
    "crate::data::dataset",
    "crate::data::env",
    "crate::data::normalize",
    "crate::data::references",
    "crate::envs::spec",
    "crate::envs::ogbench_task",
    "crate::eval::scoring",
    "crate::rl::config",
    "crate::rl::critic_stat",
    "crate::rl::improve_rng",
];

const FORBIDDEN_CRATES: [&str; 2] = ["wgpu", "naga"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of a source file: `src/a/b.rs` is `crate::a::b`, `src/a/mod.rs` is `crate::a`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    std::iter::once("crate".to_string()).chain(parts).collect()
}

/// The files of a module: its own file, or every file under its folder.
fn files_of(module: &str) -> Vec<PathBuf> {
    let relative: PathBuf = module.split("::").skip(1).collect();
    let folder = src().join(&relative);
    if folder.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        return files;
    }
    let file = src().join(relative).with_extension("rs");
    assert!(file.is_file(), "{module}: no file {}", file.display());
    vec![file]
}

/// The library code of a file: comments dropped, and nothing from its `#[cfg(test)]` on.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let library = text.split("#[cfg(test)]").next().unwrap();
    library
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path in a `use` tree, braces expanded: `a::{b, c::{d, self}}` gives a::b, a::c::d, a::c.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap().trim();
        return vec![path.trim_end_matches("::self").to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| expand(&format!("{prefix}{}", item.trim())))
        .map(|path| path.trim_end_matches("::self").to_string())
        .collect()
}

/// Every path a file names: those of its `use` items and any `crate::`/`super::` path in its code.
fn paths_of(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let Some(tree) =
            ["use ", "pub use ", "pub(crate) use ", "pub(super) use "].iter().find_map(|p| line.strip_prefix(p))
        else {
            continue;
        };
        let mut statement = tree.to_string();
        while !statement.contains(';') {
            match lines.next() {
                Some(next) => statement.push_str(next),
                None => break,
            }
        }
        paths.extend(expand(statement.split(';').next().unwrap()));
    }
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        let word = word.trim_end_matches(':');
        if word.starts_with("crate::") || word.starts_with("super::") {
            paths.push(word.to_string());
        }
    }
    paths
}

/// `super::` resolved against the file's module, giving a `crate::` path.
fn absolute(path: &str, module: &[String]) -> String {
    let mut base = module.to_vec();
    let mut rest = path;
    while let Some(tail) = rest.strip_prefix("super::") {
        base.pop();
        rest = tail;
    }
    if rest.starts_with("crate::") || rest == "crate" {
        rest.to_string()
    } else {
        format!("{}::{rest}", base.join("::"))
    }
}

#[test]
fn the_reference_and_what_it_uses_do_not_touch_the_gpu() {
    let mut problems = Vec::new();
    for module in GPU_FREE {
        for file in files_of(module) {
            let code = code_of(&file);
            let name = file.strip_prefix(src()).unwrap().display().to_string();
            for path in paths_of(&code) {
                let first = path.split("::").next().unwrap();
                if FORBIDDEN_CRATES.contains(&first) {
                    problems.push(format!("{name} uses {path}"));
                    continue;
                }
                if first != "crate" && first != "super" {
                    continue;
                }
                let full = absolute(&path, &module_of(&file));
                let allowed = GPU_FREE.iter().any(|m| full == *m || full.starts_with(&format!("{m}::")));
                if !allowed {
                    problems.push(format!("{name} uses {full}, which is not in GPU_FREE"));
                }
            }
            for crate_name in FORBIDDEN_CRATES {
                if code.contains(&format!("{crate_name}::")) {
                    problems.push(format!("{name} names {crate_name}"));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "the CPU reference must not depend on GPU code:\n{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_paths_in_braces_and_super() {
    let paths = paths_of(
        "use super::{adam::{self, AdamState}, rng};\nuse crate::gpu::Gpu as G;\nlet x = crate::kernels::rng::X;",
    );
    assert!(paths.contains(&"super::adam".to_string()), "{paths:?}");
    assert!(paths.contains(&"super::adam::AdamState".to_string()), "{paths:?}");
    assert!(paths.contains(&"super::rng".to_string()), "{paths:?}");
    assert!(paths.contains(&"crate::gpu::Gpu".to_string()), "{paths:?}");
    assert!(paths.contains(&"crate::kernels::rng::X".to_string()), "{paths:?}");
    let module: Vec<String> = ["crate", "reference", "qipo"].map(String::from).to_vec();
    assert_eq!(absolute("super::adam", &module), "crate::reference::adam");
}
