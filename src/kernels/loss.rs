//! The weighted squared-error loss with its sum over each block of rows (one block per copy of
//! a network): `shaders/squared_error.wgsl`.

use anyhow::Result;

use super::critic::TwinHeads;
use super::snippets::BLOCK_SUM;
use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder, WORKGROUP_1D};

const SOURCE: Source = ("squared_error.wgsl", include_str!("../../shaders/squared_error.wgsl"));

/// Bindings: prediction, target, weights, gradient (out), statistics (out: each block's loss
/// sum, and optionally its mean prediction and mean goal).
pub const WEIGHTED_SQUARED_ERROR: Kernel = Kernel {
    sources: &[BLOCK_SUM, SOURCE],
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
    /// Where block b's loss sum goes in the statistics buffer: `loss_off + b`.
    pub loss_off: u32,
    /// Set by [`SquaredError::record`]: 1 where the loss was bound to weights.
    pub has_weights: u32,
    pub scale: f32,
    /// Rows per block (0: all rows are one block).
    pub block_rows: u32,
    /// Rows per block of predictions sharing goals with the next `target_share - 1` blocks
    /// (0: each row its own goal row).
    pub target_block: u32,
    pub target_share: u32,
    /// 1: also write each block's mean prediction row sum at `pred_mean_off + b`, and each
    /// goal block's mean goal row sum at `goal_mean_off + b / target_share`.
    pub has_means: u32,
    pub pred_mean_off: u32,
    pub goal_mean_off: u32,
    /// Set by [`SquaredError::record`]: 1 / block rows.
    pub mean_scale: f32,
}

/// The loss bound to its buffers. Without `weights`, every row weighs 1.
pub struct SquaredError {
    bound: Bound,
    stats_len: usize,
    weighted: bool,
}

impl SquaredError {
    pub fn new(
        gpu: &Gpu,
        pred: &GpuBuffer,
        target: &GpuBuffer,
        weights: Option<&GpuBuffer>,
        grad: &GpuBuffer,
        stats: &GpuBuffer,
    ) -> Result<Self> {
        let weighted = weights.is_some();
        // An unweighted loss binds the target in the weights' place; the kernel never reads it.
        let weights = weights.unwrap_or(target);
        let bound = Bound::new(gpu, &WEIGHTED_SQUARED_ERROR, &[pred, target, weights, grad, stats])?;
        Ok(Self { bound, stats_len: stats.len, weighted })
    }

    /// Records the loss of `rows` rows of `cols` values in blocks of `params.block_rows` rows
    /// (all of them when 0), a workgroup per block; `rows`, `cols`, whether rows are weighted
    /// and the mean's scale are set here.
    pub fn record(&self, rec: &mut Recorder, rows: usize, cols: usize, params: SquaredErrorParams) {
        let (block_rows, blocks) = loss_blocks(rows, params.block_rows, params.loss_off, self.stats_len);
        if blocks == 0 {
            return;
        }
        let p = SquaredErrorParams {
            rows: rows as u32,
            cols: cols as u32,
            block_rows: block_rows as u32,
            has_weights: u32::from(self.weighted),
            mean_scale: 1.0 / block_rows as f32,
            ..params
        };
        let groups = grid_1d(rec.gpu(), blocks * WORKGROUP_1D as usize, WORKGROUP_1D);
        self.bound.record(rec, &p, groups);
    }
}

/// Where a twin-head regression writes its statistics, each the start of one value per seed.
#[derive(Clone, Copy, Debug)]
pub struct TwinRegressionStats {
    /// Each head's mean loss: seed c's head h at `loss_at + 2c + h`.
    pub loss_at: usize,
    /// Each head's mean prediction: seed c's head h at `prediction_at + 2c + h`.
    pub prediction_at: usize,
    /// Each seed's mean target, at `target_at + c`.
    pub target_at: usize,
}

impl SquaredError {
    /// Records the regression of both twin heads of every seed (the predictions, laid out as
    /// `heads` says) onto that seed's block of `heads.rows` targets: each head's loss is its
    /// mean squared error, with the means `stats` names.
    pub fn record_twin_heads(&self, rec: &mut Recorder, seeds: usize, heads: TwinHeads, stats: TwinRegressionStats) {
        let params = SquaredErrorParams {
            scale: 1.0 / heads.rows as f32,
            block_rows: heads.rows as u32,
            target_block: heads.rows as u32,
            target_share: 2,
            loss_off: stats.loss_at as u32,
            has_means: 1,
            pred_mean_off: stats.prediction_at as u32,
            goal_mean_off: stats.target_at as u32,
            ..Default::default()
        };
        self.record(rec, 2 * seeds * heads.rows, 1, params);
    }
}

/// A block-summed loss over `rows` rows: its rows per block (all of them when `block_rows` is
/// 0) and its number of blocks, one workgroup and one sum each, checked against the
/// `stats_len` sums its output holds from `loss_off`.
pub(crate) fn loss_blocks(rows: usize, block_rows: u32, loss_off: u32, stats_len: usize) -> (usize, usize) {
    let block_rows = if block_rows == 0 { rows } else { block_rows as usize };
    let blocks = rows.div_ceil(block_rows.max(1));
    assert!(loss_off as usize + blocks <= stats_len, "{blocks} loss sums at {loss_off} overrun their output");
    (block_rows, blocks)
}
