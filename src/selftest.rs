//! A quick check of every kernel against its CPU twin on the chosen adapter, for
//! `qipo info`: small random inputs, the largest relative error, pass or fail.
//!
//! The test suite checks far more cases; this tells a user in a second whether their
//! driver computes what qipo expects. Each check names the kernels it ran, so a test can
//! tell that none of [`crate::kernels::all`] is left out.
//!
//! A kernel's comparison with its twin is written once, in the module named like the kernel
//! (`selftest::reduce` for `kernels::reduce`): a `check` function taking a case (sizes,
//! options, seed, tolerance) and returning a [`Check`]. [`run`] calls each with one small
//! case; the kernel's tests (`tests/kernel_<name>.rs`; `kernel_flow.rs` for energy weights,
//! Euler steps and flow pairs, `mlp.rs` for the MLP) call it over their sweep of sizes.

pub mod adam;
pub mod columns;
pub mod critic;
pub mod energy_weights;
pub mod euler;
pub mod flow_pairs;
pub mod gather;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod reduce;
pub mod rng;
pub mod rows;
pub mod sample_rows;
pub mod time_embedding;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::flow::VelocitySpec;
use crate::gpu::{Gpu, Kernel};
use crate::kernels::linear::Core;
use crate::kernels::rng::{Distribution, FILL_INDICES};
use crate::kernels::time_embedding::DEFAULT_FEATURES;
use crate::nn::{Activation, MlpSpec};
use crate::ops::{AdamConfig, ColumnMode};
use crate::random::{streams, RngDraw};

/// The outcome of one check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// What was computed, e.g. "reduce sum (2 passes)".
    pub name: String,
    /// The kernels the check ran, as [`Kernel::key`].
    pub kernels: Vec<String>,
    /// Largest |gpu - cpu| / (1 + |cpu|); for integers, the largest |gpu - cpu|.
    pub max_error: f32,
    pub tolerance: f32,
    pub passed: bool,
}

impl Check {
    fn new(name: &str, kernels: &[Kernel], max_error: f32, tolerance: f32) -> Self {
        Self {
            name: name.to_string(),
            kernels: kernels.iter().map(Kernel::key).collect(),
            max_error,
            tolerance,
            // NaN compares false, so a NaN error fails.
            passed: max_error <= tolerance,
        }
    }

    /// Floats that must agree to `tolerance` relative to (1 + |cpu|). NaN must meet NaN.
    fn close(name: &str, kernels: &[Kernel], got: &[f32], want: &[f32], tolerance: f32) -> Self {
        Self::new(name, kernels, max_relative_error(got, want), tolerance)
    }

    /// Words (integers, or floats compared bit for bit) that must be identical.
    fn exact(name: &str, kernels: &[Kernel], got: &[u32], want: &[u32]) -> Self {
        let max_error = if got.len() == want.len() {
            got.iter().zip(want).map(|(&g, &w)| g.abs_diff(w) as f32).fold(0.0, f32::max)
        } else {
            f32::INFINITY
        };
        Self::new(name, kernels, max_error, 0.0)
    }

    /// Floats that must agree to `tolerance` in absolute terms. NaN must meet NaN.
    fn absolute(name: &str, kernels: &[Kernel], got: &[f32], want: &[f32], tolerance: f32) -> Self {
        let max_error = if got.len() == want.len() {
            worst(got.iter().zip(want).map(|(&g, &w)| match (g.is_nan(), w.is_nan()) {
                (true, true) => 0.0,
                (false, false) if g == w => 0.0,
                (false, false) => (g - w).abs(),
                _ => f32::INFINITY,
            }))
        } else {
            f32::INFINITY
        };
        Self::new(name, kernels, max_error, tolerance)
    }

    /// One check of several comparisons, passed when each part is within its own tolerance.
    /// Exact parts (tolerance 0) add nothing to the error unless they fail. If the other parts
    /// share one tolerance, the check reports their largest error against it (as one
    /// comparison of all their values would); otherwise each error is in units of its part's
    /// tolerance, against 1.
    fn all(name: &str, kernels: &[Kernel], parts: &[Check]) -> Self {
        let passed = parts.iter().all(|p| p.passed);
        let graded: Vec<&Check> = parts.iter().filter(|p| p.tolerance > 0.0).collect();
        let (max_error, tolerance) = match graded.first() {
            None => (0.0, 0.0),
            Some(first) if graded.iter().all(|p| p.tolerance == first.tolerance) => {
                (worst(graded.iter().map(|p| p.max_error)), first.tolerance)
            }
            Some(_) => (worst(graded.iter().map(|p| p.max_error / p.tolerance)), 1.0),
        };
        // A failed exact part fails the whole.
        let max_error = if !passed && max_error <= tolerance { f32::INFINITY } else { max_error };
        Self { passed, ..Self::new(name, kernels, max_error, tolerance) }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let result = if self.passed { "passed" } else { "FAILED" };
        write!(f, "{}: max error {:.2e}, tolerance {:.1e}, {result}", self.name, self.max_error, self.tolerance)
    }
}

/// The largest of `errors`, NaN if any is NaN (`f32::max` would skip it).
fn worst(errors: impl Iterator<Item = f32>) -> f32 {
    errors.fold(0.0, |worst, e| if e.is_nan() || e > worst { e } else { worst })
}

/// The largest |g - w| / (1 + |w|), infinite on a length mismatch or where only one side is
/// NaN (`f32::max` would skip a NaN).
fn max_relative_error(got: &[f32], want: &[f32]) -> f32 {
    if got.len() != want.len() {
        return f32::INFINITY;
    }
    let error = |(&g, &w): (&f32, &f32)| match (g.is_nan(), w.is_nan()) {
        (true, true) => 0.0,
        (false, false) if g == w => 0.0, // equal infinities too
        (false, false) => (g - w).abs() / (1.0 + w.abs()),
        _ => f32::INFINITY,
    };
    got.iter().zip(want).map(error).fold(0.0, f32::max)
}

pub(crate) fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// `n` numbers uniform in [-scale, scale) from `seed`, as the kernel tests draw them.
pub fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    random(&mut ChaCha8Rng::seed_from_u64(seed), n, scale)
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Runs every check; an `Err` means the GPU itself failed (not a wrong result).
pub fn run(gpu: &Gpu) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    // Two copies of a layer in the same dispatches, on each matmul core.
    for core in Core::LADDER {
        let layer = linear::Case {
            rows: 33,
            in_dim: 17,
            out_dim: 65,
            act: Activation::Mish,
            copies: 2,
            input_group: 1,
            layout: linear::ALIGNED,
            seed: 16,
            tolerance: 1e-5,
            grad_tolerance: 1e-4,
        };
        checks.push(linear::check_forward(gpu, core, &layer, false)?);
        checks.extend(linear::check_backward(gpu, core, &layer, false, None)?);
        // Rows that start on vec4s, which the vec4 and tiled cores then load as vec4s.
        let mut aligned = linear::check_forward(gpu, core, &linear::Case { in_dim: 20, seed: 18, ..layer }, false)?;
        aligned.name = aligned.name.replacen("forward", "forward, rows on vec4s", 1);
        checks.push(aligned);
        // Enough rows that dW is summed in row chunks, added up by sum_splits.
        let long = linear::Case { rows: 613, in_dim: 9, out_dim: 5, seed: 17, ..layer };
        checks.extend(linear::check_backward(gpu, core, &long, true, None)?.into_iter().take(1));
    }
    let error = loss::Case { rows: 37, cols: 5, weighted: true, scale: 0.1, block: 10, seed: 10, tolerance: 1e-5 };
    checks.push(loss::check(gpu, &error)?);
    let network = mlp::Case {
        spec: MlpSpec::new(9, &[32, 32], 3, Activation::Silu),
        rows: 19,
        seed: 21,
        tolerance: 1e-4,
        grad_tolerance: 1e-4,
    };
    checks.push(mlp::check(gpu, &network)?);
    // Each fill at an offset; indices below a small bound and below one near 2^32, where
    // rejection matters.
    let draw = RngDraw::new(12, streams::GENERAL, 7);
    let fill = |distribution, tolerance| rng::Case { distribution, sizes: vec![1001], draw, tolerance };
    checks.push(rng::check(gpu, &fill(Distribution::Bits, 0.0))?);
    // Uniforms in (0, 1) are exact functions of the bits, so they match bit for bit.
    checks.push(rng::check(gpu, &fill(Distribution::UNIT_UNIFORM, 0.0))?);
    // Normals differ by the device's log, sin and cos.
    checks.push(rng::check(gpu, &fill(Distribution::Normal { mean: 0.5, std: 2.0 }, 1e-5))?);
    let indices = [17, 4_000_000_007].map(|n| fill(Distribution::Index { n }, 0.0));
    let indices: Vec<Check> = indices.iter().map(|case| rng::check(gpu, case)).collect::<Result<_>>()?;
    checks.push(Check::all("random indices", &[FILL_INDICES], &indices));
    // QIPO's layout: noisy actions, QGPO's 32 Fourier features, states shared by support sets.
    // t·w reaches about 100 turns: where the device keeps t·w exact (a fused multiply-subtract)
    // and the host rounds it, the angles differ by up to half an ulp of 100 turns, about 2e-5.
    let embedding = time_embedding::Case {
        rows: 20,
        x_dim: 6,
        features: DEFAULT_FEATURES,
        cond_dim: 17,
        repeat: 3,
        seed: 11,
        tolerance: time_embedding::Tolerance::Relative(1e-4),
    };
    checks.push(time_embedding::check(gpu, &embedding)?);
    // A range long enough for two passes, 5 words into its buffer, and the rows of a matrix.
    let relative = reduce::Tolerance::Relative(1e-5);
    let range = reduce::RangeCase { len: 3001, mean: 0.25, guarded: true, seed: 1, tolerance: relative };
    checks.extend(reduce::check_range(gpu, &range)?);
    checks.push(reduce::check_rows(gpu, &reduce::RowsCase { rows: 9, cols: 301, seed: 2, tolerance: relative })?);
    // A few AdamW steps with active clipping (which runs the gradient-norm reduction), on
    // three copies each at its own learning rate.
    let config = AdamConfig { lr: 1e-2, weight_decay: 0.1, max_grad_norm: 0.5, ..Default::default() };
    let steps = adam::Case {
        len: 1500,
        copies: 3,
        config,
        steps: 3,
        tau: Some(0.005),
        per_copy_lr: true,
        seed: 13,
        tolerance: 1e-5,
    };
    checks.push(adam::check(gpu, &steps)?);
    // QIPO's support sets: groups of 17 values, energies scaled by -β.
    let weights = energy_weights::Case {
        groups: 7,
        size: 17,
        coef: -3.0,
        scale: 1.7,
        seed: 3,
        tolerance: 1e-5,
        sum_tolerance: None,
    };
    checks.push(energy_weights::check(gpu, &weights)?);
    // Two steps, the second clipped.
    let steps = euler::Case { n: 257, dt: 0.1, clips: &[None, Some((-1.0, 1.0))], seed: 4, tolerance: 1e-6 };
    checks.push(euler::check(gpu, &steps)?);
    // A batch of 6-D actions: x_t, t and the target velocity.
    let (noise, time) = (RngDraw::new(8, streams::FLOW_NOISE, 0), RngDraw::new(8, streams::FLOW_TIME, 0));
    let pairs = flow_pairs::Case { rows: 33, dim: 6, noise, time, seed: 9, t_tolerance: 1e-5, tolerance: 1e-5 };
    checks.push(flow_pairs::check(gpu, &pairs)?);
    // Two seeds' minibatches of three tables, one of them a table per seed.
    let tables = [(7, false), (1, true), (3, false)].map(|(width, per_copy)| gather::Table { width, per_copy });
    let draw = RngDraw::new(6, streams::MINIBATCH, 3);
    let minibatches = gather::Case { tables: tables.to_vec(), n: 50, copies: 2, rows: 21, draw, seed: 7 };
    checks.push(gather::check(gpu, &minibatches)?);
    // The critic's kernels: QGPO's soft TD target with both heads in one buffer, the
    // expectile loss.
    let td = critic::TdCase {
        batch: 33,
        support: 16,
        heads: critic::Heads::Stacked,
        alpha: 0.5,
        gamma: 0.99,
        seed: 14,
        tolerance: 1e-5,
    };
    checks.push(critic::check_td_target(gpu, &td)?);
    let expectile =
        critic::ExpectileCase { rows: 257, blocks: 1, expectile: 0.7, seed: 15, loss_tolerance: 1e-6, tolerance: 1e-6 };
    checks.push(critic::check_expectile(gpu, &expectile)?);
    // Support-set assembly: dense rows into slots 1..M of groups of M + 1, and min(Q1, Q2).
    let slots = rows::CopyCase { groups: 9, per_group: 16, dst_group: 17, dst_first: 1, width: 3, seed: 17 };
    checks.push(rows::check_copy_rows(gpu, &slots)?);
    checks.push(rows::check_minimum(gpu, &rows::MinimumCase { n: 101, seed: 18 })?);
    // A few actions sampled in one dispatch by a small velocity network, through 3 Euler
    // steps, clipped.
    let spec = VelocitySpec {
        dim: 3,
        cond_dim: 5,
        time_features: 8,
        time_scale: 30.0,
        hidden: vec![16, 16],
        activation: Activation::Mish,
        architecture: Default::default(),
    };
    let clip = Some((-1.0, 1.0));
    let sampling = sample_rows::Case { spec, rows: 4, steps: 3, clip, net_seed: 19, noise_seed: 20, tolerance: 1e-4 };
    checks.push(sample_rows::check(gpu, &sampling)?);
    // Adds columns 3..8 of a 13-wide matrix into columns 1..6 of a 9-wide one, two copies.
    let blocks =
        columns::Case { rows: 21, width: 5, src: (13, 3), dst: (9, 1), mode: ColumnMode::Add, copies: 2, seed: 5 };
    checks.push(columns::check(gpu, &blocks)?);
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_catch_nan_and_length() {
        assert_eq!(max_relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(max_relative_error(&[1.0, 3.0], &[1.0, 2.0]), 1.0 / 3.0);
        assert_eq!(max_relative_error(&[f32::NAN], &[f32::NAN]), 0.0, "NaN where NaN is expected");
        assert_eq!(max_relative_error(&[f32::INFINITY], &[f32::INFINITY]), 0.0);
        assert_eq!(max_relative_error(&[1.0, f32::NAN], &[1.0, 2.0]), f32::INFINITY);
        assert_eq!(max_relative_error(&[1.0, 2.0], &[1.0, f32::NAN]), f32::INFINITY);
        assert_eq!(max_relative_error(&[1.0], &[1.0, 2.0]), f32::INFINITY);
        assert!(!Check::close("nan", &[], &[f32::NAN], &[0.0], 1.0).passed);
        assert!(!Check::exact("words", &[], &[1, 2], &[1, 3]).passed);
        assert!(Check::exact("words", &[], &[1, 2], &[1, 2]).passed);
    }

    #[test]
    fn joined_checks_report_their_worst_part() {
        let close = |error: f32, tolerance: f32| Check::new("part", &[], error, tolerance);
        let exact = |passed: bool| Check::exact("part", &[], &[1], &[if passed { 1 } else { 2 }]);
        // One tolerance: the largest error against it, as one comparison of all values.
        let one = Check::all("all", &[], &[close(1e-6, 1e-5), close(3e-6, 1e-5), exact(true)]);
        assert_eq!((one.max_error, one.tolerance, one.passed), (3e-6, 1e-5, true));
        // Several: each error in units of its tolerance.
        let mixed = Check::all("all", &[], &[close(2e-6, 1e-5), close(5e-7, 1e-6)]);
        assert_eq!((mixed.max_error, mixed.tolerance, mixed.passed), (0.5, 1.0, true));
        assert!(!Check::all("all", &[], &[close(2e-5, 1e-5), close(5e-7, 1e-6)]).passed);
        // A failed exact part fails the whole, whatever the other errors.
        let failed = Check::all("all", &[], &[close(1e-6, 1e-5), exact(false)]);
        assert!(!failed.passed && failed.max_error.is_infinite());
        assert!(!Check::all("all", &[], &[close(f32::NAN, 1e-5)]).passed);
        assert!(!Check::absolute("sums", &[], &[1.7002], &[1.7], 1e-4).passed);
        assert!(Check::absolute("sums", &[], &[1.70005], &[1.7], 1e-4).passed);
    }
}
