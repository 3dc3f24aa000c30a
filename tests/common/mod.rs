//! Helpers shared by the kernel tests: one GPU per test binary, random inputs, comparisons.
#![allow(dead_code)]

use std::sync::OnceLock;

use qipo::gpu::{AdapterChoice, Gpu};

/// The test binary's GPU (lavapipe where no GPU is present), opened once.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            // Silences the Vulkan loader's warning on machines without a session.
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
        Gpu::new(&AdapterChoice::Auto).unwrap_or_else(|e| panic!("no GPU for the tests: {e:#}"))
    })
}

/// `n` numbers uniform in [-scale, scale) from a fixed seed: the draw of the shared checks
/// in `qipo::selftest`.
pub fn random(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    qipo::selftest::values(seed, n, scale)
}

/// Asserts |got - want| <= tol·(1 + |want|) element by element, naming the first failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst = (0usize, 0.0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / (1.0 + w.abs());
        assert!(g.is_finite() || !w.is_finite(), "{what}[{i}]: got {g}, want {w}");
        if err > worst.1 {
            worst = (i, err);
        }
    }
    let (i, err) = worst;
    assert!(err <= tol, "{what}[{i}]: got {}, want {} (relative error {err:.2e} > {tol:.1e})", got[i], want[i]);
}

/// Central differences of `loss` at `params`, parameter by parameter with step `h`, against
/// `grads`: each within `tol`·(1 + |difference|). Returns the largest difference, so a test
/// can check that the loss depends on the parameters at all.
pub fn assert_finite_differences(params: &[f32], grads: &[f32], loss: impl Fn(&[f32]) -> f64, h: f32, tol: f64) -> f64 {
    let mut largest = 0.0f64;
    for i in 0..params.len() {
        let (mut up, mut down) = (params.to_vec(), params.to_vec());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
        let err = (numeric - grads[i] as f64).abs();
        assert!(err < tol * (1.0 + numeric.abs()), "parameter {i}: GPU {} vs finite difference {numeric}", grads[i]);
        largest = largest.max(numeric.abs());
    }
    largest
}

/// The largest relative error, for reporting.
pub fn max_error(got: &[f32], want: &[f32]) -> f32 {
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / (1.0 + w.abs())).fold(0.0, f32::max)
}
