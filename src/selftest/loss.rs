//! The weighted squared error (`shaders/squared_error.wgsl`) against its CPU twin: per-block
//! loss sums and the gradient.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::loss::{SquaredError, SquaredErrorParams, WEIGHTED_SQUARED_ERROR};
use crate::reference;

/// `rows` × `cols` predictions and targets in [-2, 2), row weights in [0, 1) or none, the
/// loss summed over blocks of `block` rows (the last one may be shorter).
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub rows: usize,
    pub cols: usize,
    pub weighted: bool,
    pub scale: f32,
    pub block: usize,
    pub seed: u64,
    /// Relative to 1 + |cpu|.
    pub tolerance: f32,
}

/// Runs the case with the targets 3 words into their buffer, the weights 2 and the loss 1.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { rows, cols, weighted, scale, block, seed, tolerance } = *case;
    let pred = values(seed, rows * cols, 2.0);
    let target = values(seed + 1, rows * cols, 2.0);
    let weights: Vec<f32> = values(seed + 2, rows, 1.0).iter().map(|w| w.abs()).collect();
    let w = weighted.then_some(weights.as_slice());
    let (loss_rows, grad_ref) = reference::loss::weighted_squared_error(&pred, &target, w, rows, cols, scale);
    let loss_ref = reference::loss::block_sums(&loss_rows, block);

    let pred_buf = GpuBuffer::from_slice(gpu, "pred", &pred)?;
    let target_buf = GpuBuffer::from_slice(gpu, "target", &[vec![0.0; 3], target].concat())?;
    let weight_buf = GpuBuffer::from_slice(gpu, "weights", &[vec![0.0; 2], weights].concat())?;
    let grad_buf = GpuBuffer::zeros(gpu, "grad", rows * cols)?;
    let loss_buf = GpuBuffer::zeros(gpu, "loss", loss_ref.len() + 1)?;
    let op = SquaredError::new(gpu, &pred_buf, &target_buf, weighted.then_some(&weight_buf), &grad_buf, &loss_buf)?;
    let mut rec = Recorder::new(gpu);
    let params = SquaredErrorParams {
        target_off: 3,
        weight_off: 2,
        loss_off: 1,
        scale,
        block_rows: block as u32,
        ..Default::default()
    };
    op.record(&mut rec, rows, cols, params);
    rec.submit_and_wait()?;
    let got = [loss_buf.read::<f32>(gpu)?[1..].to_vec(), grad_buf.read::<f32>(gpu)?].concat();
    let want = [loss_ref, grad_ref].concat();
    Ok(Check::close("weighted squared error, summed by blocks", &[WEIGHTED_SQUARED_ERROR], &got, &want, tolerance))
}
