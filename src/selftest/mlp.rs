//! The MLP's forward and backward passes (the linear and loss kernels together) against the
//! CPU twin.

use anyhow::Result;

use super::{linear, values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::linear::{Core, ACTIVATION_BACKWARD};
use crate::kernels::loss::{SquaredError, SquaredErrorParams, WEIGHTED_SQUARED_ERROR};
use crate::nn::{Mlp, MlpPass, MlpSpec};
use crate::reference;

/// `rows` inputs in [-1.5, 1.5) and targets in [-1, 1), parameters initialised from the
/// seed, the mean squared error over rows.
#[derive(Debug, Clone)]
pub struct Case {
    pub spec: MlpSpec,
    pub rows: usize,
    pub seed: u64,
    /// For the output, relative to 1 + |cpu|.
    pub tolerance: f32,
    /// For the parameter gradients, relative to 1 + |cpu|.
    pub grad_tolerance: f32,
}

/// The output and the parameter gradients, from a pass built for 3 rows more than it runs
/// (only the first `rows` rows count).
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { ref spec, rows, seed, tolerance, grad_tolerance } = *case;
    let x = values(seed, rows * spec.input, 1.5);
    let target = values(seed + 1, rows * spec.output, 1.0);
    let params = spec.init_params(seed + 2);
    let scale = 1.0 / rows as f32;
    let acts = reference::mlp::forward(spec, &params, &x, rows);
    let out_ref = &acts.last().expect("an MLP has at least one layer").1;
    let (_, d_out) = reference::loss::weighted_squared_error(out_ref, &target, None, rows, spec.output, scale);
    let grads_ref = reference::mlp::backward(spec, &params, &x, &acts, &d_out, rows);

    let mlp = Mlp::from_params(gpu, spec, &params)?;
    let padded = [x, vec![7.0; 3 * spec.input]].concat();
    let x_buf = GpuBuffer::from_slice(gpu, "x", &padded)?;
    let t_buf = GpuBuffer::from_slice(gpu, "target", &target)?;
    let l_buf = GpuBuffer::zeros(gpu, "loss", 1)?;
    let pass = MlpPass::new(gpu, &mlp, &x_buf, rows + 3, true)?;
    let grad_out = pass.output_grad().expect("a training pass has an output gradient");
    let loss = SquaredError::new(gpu, pass.output(), &t_buf, None, grad_out, &l_buf)?;
    let mut rec = Recorder::new(gpu);
    pass.record_forward(&mut rec, &mlp, rows);
    loss.record(&mut rec, rows, spec.output, SquaredErrorParams { scale, ..Default::default() });
    pass.record_backward(&mut rec, &mlp, rows, false);
    rec.submit_and_wait()?;

    let mut kernels = linear::products(Core::Auto.resolve(gpu)?).to_vec();
    kernels.extend([ACTIVATION_BACKWARD, WEIGHTED_SQUARED_ERROR]);
    let name = "MLP forward + backward";
    let out = pass.output().read_range::<f32>(gpu, 0, rows * spec.output)?;
    let parts = [
        Check::close(name, &kernels, &out, out_ref, tolerance),
        Check::close(name, &kernels, &mlp.grads.read::<f32>(gpu)?, &grads_ref, grad_tolerance),
    ];
    Ok(Check::all(name, &kernels, &parts))
}
