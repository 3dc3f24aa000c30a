//! A quick check of every kernel against its CPU twin on the chosen adapter, for
//! `qipo info`: small random inputs, the largest relative error, pass or fail.
//!
//! The test suite checks far more cases; this tells a user in a second whether their
//! driver computes what qipo expects.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::linear::{BackwardOffsets, LayerShape, LinearBackward, LinearForward};
use crate::kernels::loss::{SquaredError, SquaredErrorParams};
use crate::nn::{Activation, Mlp, MlpPass, MlpSpec};
use crate::reference;

/// The outcome of one kernel's check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub kernel: String,
    /// Largest |gpu - cpu| / (1 + |cpu|).
    pub max_error: f32,
    pub tolerance: f32,
    pub passed: bool,
}

impl Check {
    fn new(kernel: &str, got: &[f32], want: &[f32], tolerance: f32) -> Self {
        let max_error = if got.len() == want.len() {
            got.iter().zip(want).map(|(g, w)| (g - w).abs() / (1.0 + w.abs())).fold(0.0f32, |a, e| a.max(e))
        } else {
            f32::INFINITY
        };
        // NaN compares false, so a NaN result fails too.
        let passed = max_error <= tolerance;
        Self { kernel: kernel.to_string(), max_error, tolerance, passed }
    }
}

pub(crate) fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Runs every check; an `Err` means the GPU itself failed (not a wrong result).
pub fn run(gpu: &Gpu) -> Result<Vec<Check>> {
    let mut rng = ChaCha8Rng::seed_from_u64(20250305);
    let mut checks = Vec::new();
    checks.extend(linear(gpu, &mut rng)?);
    checks.push(squared_error(gpu, &mut rng)?);
    checks.push(mlp_gradient(gpu, &mut rng)?);
    Ok(checks)
}

fn linear(gpu: &Gpu, rng: &mut ChaCha8Rng) -> Result<Vec<Check>> {
    let (rows, in_dim, out_dim, act) = (33, 17, 65, Activation::Mish);
    let layer = LayerShape { in_dim, out_dim, weight_off: 0, bias_off: in_dim * out_dim };
    let x = random(rng, rows * in_dim, 2.0);
    let params = random(rng, layer.bias_off + out_dim, 0.5);
    let dy = random(rng, rows * out_dim, 1.0);
    let (w, b) = params.split_at(layer.bias_off);
    let (z_ref, y_ref) = reference::linear::forward(&x, w, b, rows, in_dim, out_dim, act);
    let want = reference::linear::backward(&x, w, &z_ref, &dy, rows, in_dim, out_dim, act);

    let x_buf = GpuBuffer::from_slice(gpu, "x", &x)?;
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params)?;
    let y_buf = GpuBuffer::zeros(gpu, "y", rows * out_dim)?;
    let z_buf = GpuBuffer::zeros(gpu, "z", rows * out_dim)?;
    let dy_buf = GpuBuffer::from_slice(gpu, "dy", &dy)?;
    let g_buf = GpuBuffer::zeros(gpu, "grads", params.len())?;
    let dx_buf = GpuBuffer::zeros(gpu, "dx", rows * in_dim)?;
    let forward = LinearForward::new(gpu, &x_buf, &p_buf, &y_buf, &z_buf)?;
    let backward = LinearBackward::new(gpu, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, Some(&dx_buf))?;
    let mut rec = Recorder::new(gpu);
    forward.record(&mut rec, &layer, act, rows, 0, 0, Some(0));
    backward.record(&mut rec, &layer, act, rows, BackwardOffsets::default(), false);
    rec.submit_and_wait()?;
    let grads: Vec<f32> = g_buf.read(gpu)?;
    let db_dw: Vec<f32> = [want.dw.clone(), want.db.clone()].concat();
    Ok(vec![
        Check::new("linear_forward", &y_buf.read::<f32>(gpu)?, &y_ref, 1e-5),
        Check::new("linear_backward (dW, db)", &grads, &db_dw, 1e-4),
        Check::new("linear_backward (dX)", &dx_buf.read::<f32>(gpu)?, &want.dx, 1e-5),
    ])
}

fn squared_error(gpu: &Gpu, rng: &mut ChaCha8Rng) -> Result<Check> {
    let (rows, cols) = (37, 5);
    let pred = random(rng, rows * cols, 2.0);
    let goal = random(rng, rows * cols, 2.0);
    let weights: Vec<f32> = random(rng, rows, 1.0).iter().map(|w| w.abs()).collect();
    let (loss_ref, grad_ref) = reference::loss::weighted_squared_error(&pred, &goal, Some(&weights), rows, cols, 0.1);
    let p = GpuBuffer::from_slice(gpu, "pred", &pred)?;
    let t = GpuBuffer::from_slice(gpu, "target", &goal)?;
    let w = GpuBuffer::from_slice(gpu, "weights", &weights)?;
    let g = GpuBuffer::zeros(gpu, "grad", rows * cols)?;
    let l = GpuBuffer::zeros(gpu, "loss", rows)?;
    let op = SquaredError::new(gpu, &p, &t, Some(&w), &g, &l)?;
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, rows, cols, SquaredErrorParams { has_weights: 1, scale: 0.1, ..Default::default() });
    rec.submit_and_wait()?;
    let got = [l.read::<f32>(gpu)?, g.read::<f32>(gpu)?].concat();
    Ok(Check::new("squared_error", &got, &[loss_ref, grad_ref].concat(), 1e-5))
}

fn mlp_gradient(gpu: &Gpu, rng: &mut ChaCha8Rng) -> Result<Check> {
    let spec = MlpSpec::new(9, &[32, 32], 3, Activation::Silu);
    let rows = 19;
    let x = random(rng, rows * spec.input, 1.0);
    let goal = random(rng, rows * spec.output, 1.0);
    let params = spec.init_params(rng.random());
    let acts = reference::mlp::forward(&spec, &params, &x, rows);
    let out = &acts.last().expect("layers").1;
    let scale = 1.0 / rows as f32;
    let (_, d_out) = reference::loss::weighted_squared_error(out, &goal, None, rows, spec.output, scale);
    let want = reference::mlp::backward(&spec, &params, &x, &acts, &d_out, rows);

    let mlp = Mlp::from_params(gpu, &spec, &params)?;
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x)?;
    let t_buf = GpuBuffer::from_slice(gpu, "target", &goal)?;
    let l_buf = GpuBuffer::zeros(gpu, "loss", rows)?;
    let pass = MlpPass::new(gpu, &mlp, &x_buf, rows, true)?;
    let grad_out = pass.output_grad().expect("training pass");
    let loss = SquaredError::new(gpu, pass.output(), &t_buf, None, grad_out, &l_buf)?;
    let mut rec = Recorder::new(gpu);
    pass.record_forward(&mut rec, &mlp, rows);
    loss.record(&mut rec, rows, spec.output, SquaredErrorParams { scale, ..Default::default() });
    pass.record_backward(&mut rec, &mlp, rows, false);
    rec.submit_and_wait()?;
    Ok(Check::new("mlp forward+backward", &mlp.grads.read::<f32>(gpu)?, &want, 1e-4))
}
