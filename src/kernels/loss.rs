//! The weighted squared-error loss: `shaders/squared_error.wgsl`.

use anyhow::Result;

use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const SOURCE: Source = ("squared_error.wgsl", include_str!("../../shaders/squared_error.wgsl"));

/// Bindings: prediction, target, weights, gradient (out), per-row loss (out).
pub const WEIGHTED_SQUARED_ERROR: Kernel = Kernel {
    sources: &[SOURCE],
    entry: "weighted_squared_error",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};

pub const KERNELS: [Kernel; 1] = [WEIGHTED_SQUARED_ERROR];

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SquaredErrorParams {
    pub rows: u32,
    pub cols: u32,
    pub pred_off: u32,
    pub target_off: u32,
    pub weight_off: u32,
    pub grad_off: u32,
    pub loss_off: u32,
    pub has_weights: u32,
    pub scale: f32,
    /// Rows per block of predictions sharing goals with the next `target_share - 1` blocks
    /// (0: each row its own goal row).
    pub target_block: u32,
    pub target_share: u32,
}

/// The loss bound to its buffers. Without `weights`, every row weighs 1.
pub struct SquaredError(Bound);

impl SquaredError {
    pub fn new(
        gpu: &Gpu,
        pred: &GpuBuffer,
        target: &GpuBuffer,
        weights: Option<&GpuBuffer>,
        grad: &GpuBuffer,
        loss_rows: &GpuBuffer,
    ) -> Result<Self> {
        // An unweighted loss binds the target in the weights' place; the kernel never reads it.
        let weights = weights.unwrap_or(target);
        Ok(Self(Bound::new(gpu, &WEIGHTED_SQUARED_ERROR, &[pred, target, weights, grad, loss_rows])?))
    }

    /// Records the loss of `rows` rows of `cols` values; `params.rows`/`cols` are set here.
    pub fn record(&self, rec: &mut Recorder, rows: usize, cols: usize, params: SquaredErrorParams) {
        let p = SquaredErrorParams { rows: rows as u32, cols: cols as u32, ..params };
        self.0.record_1d(rec, &p, rows);
    }
}
