//! The critic's kernels: QGPO's in-support softmax TD target (`shaders/td_target.wgsl`) and
//! IQL's expectile regression (`shaders/expectile.wgsl`). Polyak averaging of the target
//! network is part of the critic's Adam step ([`super::adam::Adam::with_polyak_target`]).

use anyhow::Result;

use super::loss::loss_blocks;
use super::snippets::BLOCK_SUM;
use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder, WORKGROUP_1D};

/// Invocations per workgroup of the TD target (`WG` in its shader): one per minibatch row.
const TD_WORKGROUP: u32 = 64;

const TD_SOURCE: Source = ("td_target.wgsl", include_str!("../../shaders/td_target.wgsl"));
const EXPECTILE_SOURCE: Source = ("expectile.wgsl", include_str!("../../shaders/expectile.wgsl"));

/// Bindings: head-1 Q-values, head-2 Q-values (may be the same buffer), rewards, dones,
/// output (targets y, and optionally the soft values v).
pub const SOFTMAX_TD_TARGET: Kernel = Kernel {
    sources: &[TD_SOURCE],
    entry: "softmax_td_target",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Bindings: prediction, target heads, gradient (out), statistics (out: each block's loss sum).
pub const EXPECTILE_LOSS: Kernel = Kernel {
    sources: &[BLOCK_SUM, EXPECTILE_SOURCE],
    entry: "expectile_loss",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};

pub const KERNELS: [Kernel; 2] = [SOFTMAX_TD_TARGET, EXPECTILE_LOSS];

/// Where the twin heads' values of several seeds lie in one buffer, as a critic's pass
/// writes them (its copies 2c and 2c + 1 are seed c's heads): seed c's head 1, then its head
/// 2, each a block of `rows` values, then seed c + 1's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwinHeads {
    /// Values per head and seed.
    pub rows: usize,
}

impl TwinHeads {
    /// Where seed `seed`'s head `head` (0 or 1) starts.
    pub fn start(self, seed: usize, head: usize) -> usize {
        (2 * seed + head) * self.rows
    }

    /// From one seed's heads to the next seed's.
    pub fn seed_stride(self) -> usize {
        2 * self.rows
    }
}

/// What the TD target bootstraps from, for several seeds' minibatches.
#[derive(Clone, Copy, Debug)]
pub enum NextValues {
    /// QGPO's soft value over `support` actions per next state, from the target critic's
    /// twin heads (`heads.rows` = transitions per seed × `support`).
    TwinHeads { heads: TwinHeads, support: usize },
    /// A value per next state (IQL's V(s')), the seeds one after another.
    Values,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TdTargetParams {
    /// Transitions (rows) in the minibatch.
    pub batch: u32,
    /// Support actions M per next state.
    pub support: u32,
    pub q1_off: u32,
    pub q2_off: u32,
    /// Elements between consecutive Q-values of one head: 1 when each head is a contiguous
    /// batch×M block, 2 when one network's output rows hold both heads side by side.
    pub q_stride: u32,
    pub reward_off: u32,
    pub done_off: u32,
    /// Where the targets y go in the output buffer.
    pub y_off: u32,
    /// Where the soft values v go in the output buffer, when `has_value` is 1.
    pub value_off: u32,
    pub has_value: u32,
    /// Softmax temperature over the support: 0 averages, large values approach the max.
    pub alpha: f32,
    /// Discount.
    pub gamma: f32,
    /// Rows per seed when several seeds' minibatches run together (0: one seed).
    pub copy_rows: u32,
    /// Between seeds' head values (with `copy_rows`).
    pub q_copy_stride: u32,
}

/// `y_i = r_i + gamma·(1 - done_i)·Σ_j softmax_j(alpha·q_ij)·q_ij` with `q_ij` the smaller of
/// the target critic's twin heads at the j-th support action of next state i.
pub struct TdTarget {
    bound: Bound,
    /// Whether head 2 lives in head 1's buffer (right after it, in the common case).
    heads_share_buffer: bool,
}

impl TdTarget {
    /// `q2: None` means both heads are in `q1`: head 2's batch×M block follows head 1's in
    /// [`record`](Self::record); [`record_with`](Self::record_with) places them anywhere.
    pub fn new(
        gpu: &Gpu,
        q1: &GpuBuffer,
        q2: Option<&GpuBuffer>,
        rewards: &GpuBuffer,
        dones: &GpuBuffer,
        out: &GpuBuffer,
    ) -> Result<Self> {
        let bound = Bound::new(gpu, &SOFTMAX_TD_TARGET, &[q1, q2.unwrap_or(q1), rewards, dones, out])?;
        Ok(Self { bound, heads_share_buffer: q2.is_none() })
    }

    /// Records the targets of `batch` transitions with `support` actions each into element 0
    /// onwards of the output; the Q-values, rewards and dones start at element 0 of theirs.
    pub fn record(&self, rec: &mut Recorder, batch: usize, support: usize, alpha: f32, gamma: f32) {
        let q2_off = if self.heads_share_buffer { batch * support } else { 0 };
        let p = TdTargetParams {
            batch: batch as u32,
            support: support as u32,
            q2_off: q2_off as u32,
            q_stride: 1,
            alpha,
            gamma,
            ..Default::default()
        };
        self.record_with(rec, p);
    }

    /// Records the targets y of `seeds` minibatches of `batch` transitions, one after another
    /// from element 0 of the output, and after them every transition's soft value v.
    pub fn record_seeds(
        &self,
        rec: &mut Recorder,
        seeds: usize,
        batch: usize,
        next: NextValues,
        alpha: f32,
        gamma: f32,
    ) {
        let (head2, seed_stride, support) = match next {
            NextValues::TwinHeads { heads, support } => (heads.start(0, 1), heads.seed_stride(), support),
            // Both "heads" are the one value, which the min leaves as it is.
            NextValues::Values => (0, batch, 1),
        };
        let rows = seeds * batch;
        let params = TdTargetParams {
            batch: rows as u32,
            support: support as u32,
            q2_off: head2 as u32,
            q_stride: 1,
            value_off: rows as u32,
            has_value: 1,
            alpha,
            gamma,
            copy_rows: batch as u32,
            q_copy_stride: seed_stride as u32,
            ..Default::default()
        };
        self.record_with(rec, params);
    }

    /// Records with explicit offsets, stride and optional soft values.
    pub fn record_with(&self, rec: &mut Recorder, params: TdTargetParams) {
        let grid = grid_1d(rec.gpu(), params.batch as usize, TD_WORKGROUP);
        self.bound.record(rec, &params, grid);
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ExpectileParams {
    /// Rows of all blocks together.
    pub rows: u32,
    /// Rows per block (one block per seed); 0: all rows are one block.
    pub block_rows: u32,
    pub pred_off: u32,
    /// Where block 0's two target heads start; equal offsets read one target.
    pub q1_off: u32,
    pub q2_off: u32,
    /// Between consecutive blocks' head values.
    pub q_copy_stride: u32,
    pub grad_off: u32,
    /// Where block b's loss sum goes in the statistics buffer: `loss_off + b`.
    pub loss_off: u32,
    /// The expectile tau in (0, 1): 0.5 is half the squared error, IQL uses 0.7 to 0.9.
    pub expectile: f32,
    /// Multiplies every row's loss and gradient (1/rows for the mean).
    pub scale: f32,
}

/// `loss_i = scale·|tau - 1(u_i < 0)|·u_i²` with `u_i = min(q1_i, q2_i) - pred_i`, its gradient
/// with respect to the prediction, and the sum of the losses of each block of rows.
pub struct Expectile {
    bound: Bound,
    stats_len: usize,
}

impl Expectile {
    pub fn new(gpu: &Gpu, pred: &GpuBuffer, heads: &GpuBuffer, grad: &GpuBuffer, stats: &GpuBuffer) -> Result<Self> {
        let bound = Bound::new(gpu, &EXPECTILE_LOSS, &[pred, heads, grad, stats])?;
        Ok(Self { bound, stats_len: stats.len })
    }

    /// Records the loss of `rows` rows onto one target, every buffer from element 0, the sum
    /// into element 0 of the statistics.
    pub fn record(&self, rec: &mut Recorder, rows: usize, expectile: f32, scale: f32) {
        self.record_with(rec, ExpectileParams { rows: rows as u32, expectile, scale, ..Default::default() });
    }

    /// Records each seed's mean loss of its predictions (seed c's block of `heads.rows` from
    /// c × `heads.rows`) onto the smaller of its twin target heads; seed c's loss goes to
    /// element `loss_at + c` of the statistics.
    pub fn record_seeds(&self, rec: &mut Recorder, seeds: usize, heads: TwinHeads, loss_at: usize, expectile: f32) {
        let params = ExpectileParams {
            rows: (seeds * heads.rows) as u32,
            block_rows: heads.rows as u32,
            q2_off: heads.start(0, 1) as u32,
            q_copy_stride: heads.seed_stride() as u32,
            loss_off: loss_at as u32,
            expectile,
            scale: 1.0 / heads.rows as f32,
            ..Default::default()
        };
        self.record_with(rec, params);
    }

    /// Records with explicit offsets and blocks, a workgroup per block.
    pub fn record_with(&self, rec: &mut Recorder, params: ExpectileParams) {
        let rows = params.rows as usize;
        let (block_rows, blocks) = loss_blocks(rows, params.block_rows, params.loss_off, self.stats_len);
        if blocks == 0 {
            return;
        }
        let params = ExpectileParams { block_rows: block_rows as u32, ..params };
        let grid = grid_1d(rec.gpu(), blocks * WORKGROUP_1D as usize, WORKGROUP_1D);
        self.bound.record(rec, &params, grid);
    }
}
