//! Whole training steps: an MLP learns a small regression on the GPU, and GPU training
//! follows the CPU reference step for step from the same seed.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::adam::Adam;
use qipo::kernels::loss::{SquaredError, SquaredErrorParams};
use qipo::nn::{Activation, Mlp, MlpPass, MlpSpec};
use qipo::ops::AdamConfig;
use qipo::reference;

/// Everything one full-batch regression step needs, bound once.
struct Regression {
    mlp: Mlp,
    pass: MlpPass,
    loss: SquaredError,
    losses: GpuBuffer,
    adam: Adam,
    rows: usize,
}

impl Regression {
    fn new(spec: &MlpSpec, params: &[f32], x: &[f32], y: &[f32], config: AdamConfig, steps: usize) -> Self {
        let gpu = gpu();
        let rows = y.len() / spec.output;
        let mlp = Mlp::from_params(gpu, spec, params).unwrap();
        let x_buf = GpuBuffer::from_slice(gpu, "x", x).unwrap();
        let y_buf = GpuBuffer::from_slice(gpu, "y", y).unwrap();
        let pass = MlpPass::new(gpu, &mlp, &x_buf, rows, true).unwrap();
        let losses = GpuBuffer::zeros(gpu, "losses", steps).unwrap();
        let loss = SquaredError::new(gpu, pass.output(), &y_buf, None, pass.output_grad().unwrap(), &losses).unwrap();
        let adam = Adam::new(gpu, &mlp.params, &mlp.grads, config).unwrap();
        Self { mlp, pass, loss, losses, adam, rows }
    }

    /// Records one step; its loss (before the update) lands in `losses[step]`.
    fn record_step(&mut self, rec: &mut Recorder, step: usize) {
        let scale = 1.0 / self.rows as f32;
        self.pass.record_forward(rec, &self.mlp, self.rows);
        let params = SquaredErrorParams { scale, loss_off: step as u32, ..Default::default() };
        self.loss.record(rec, self.rows, self.mlp.spec.output, params);
        self.pass.record_backward(rec, &self.mlp, self.rows, false);
        self.adam.record_step(rec);
    }
}

#[test]
fn mlp_fits_a_small_regression() {
    // y = sin(3·x0)·x1 + x0² on 257 points of [-1, 1]²: smooth, but not linear.
    let rows = 257;
    let x = random(11, rows * 2, 1.0);
    let y: Vec<f32> = x.chunks(2).map(|p| (3.0 * p[0]).sin() * p[1] + p[0] * p[0]).collect();
    let mean = y.iter().sum::<f32>() / rows as f32;
    let variance = y.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / rows as f32;

    let spec = MlpSpec::new(2, &[32, 32], 1, Activation::Mish);
    let steps = 800;
    let config = AdamConfig { lr: 1e-2, ..Default::default() };
    let mut fit = Regression::new(&spec, &spec.init_params(3), &x, &y, config, steps);
    let mut rec = Recorder::new(gpu());
    for step in 0..steps {
        fit.record_step(&mut rec, step);
    }
    rec.submit_and_wait().unwrap();
    let losses: Vec<f32> = fit.losses.read(gpu()).unwrap();
    let last = losses[steps - 1];
    // Stated bound: the fit explains at least 99% of the variance.
    assert!(last < 0.01 * variance, "final MSE {last} is not below 1% of the variance {variance}");
    assert!(losses.iter().all(|l| l.is_finite()), "a loss was not finite");
}

#[test]
fn gpu_training_follows_the_cpu_reference() {
    let spec = MlpSpec::new(3, &[16, 16], 2, Activation::Silu);
    let rows = 33;
    let x = random(21, rows * spec.input, 1.0);
    let y = random(22, rows * spec.output, 1.0);
    let params = spec.init_params(23);
    let steps = 20;
    // Clipping on, so the GPU-reduced gradient norm is part of what is compared.
    let config = AdamConfig { lr: 1e-2, max_grad_norm: 0.5, ..Default::default() };

    let mut fit = Regression::new(&spec, &params, &x, &y, config, steps);
    let mut rec = Recorder::new(gpu());
    for step in 0..steps {
        fit.record_step(&mut rec, step);
    }
    rec.submit_and_wait().unwrap();
    let gpu_losses: Vec<f32> = fit.losses.read(gpu()).unwrap();
    let gpu_params: Vec<f32> = fit.mlp.params.read(gpu()).unwrap();

    let mut cpu_params = params.clone();
    let mut state = reference::adam::AdamState::new(params.len());
    let scale = 1.0 / rows as f32;
    for (step, &gpu_loss) in gpu_losses.iter().enumerate() {
        let acts = reference::mlp::forward(&spec, &cpu_params, &x, rows);
        let out = &acts.last().unwrap().1;
        let (loss_rows, d_out) = reference::loss::weighted_squared_error(out, &y, None, rows, spec.output, scale);
        let loss: f32 = loss_rows.iter().sum();
        let grads = reference::mlp::backward(&spec, &cpu_params, &x, &acts, &d_out, rows);
        reference::adam::step(&mut cpu_params, &grads, &mut state, &config);
        assert!(
            (gpu_loss - loss).abs() <= 1e-4 * (1.0 + loss.abs()),
            "step {step}: GPU loss {gpu_loss}, CPU loss {loss}"
        );
    }
    common::assert_close("parameters after 20 steps", &gpu_params, &cpu_params, 1e-4);
}
