//! With the `mujoco` feature, binaries find libmujoco at run time where the build found it
//! (the wheel's library, linked under .mujoco/lib by .ci/setup.sh), without LD_LIBRARY_PATH.
fn main() {
    println!("cargo::rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if std::env::var_os("CARGO_FEATURE_MUJOCO").is_none() || target_os == "windows" {
        return;
    }
    if let Some(dir) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR") {
        let dir = std::path::PathBuf::from(dir);
        println!("cargo::rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
