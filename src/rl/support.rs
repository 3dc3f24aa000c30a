//! Support actions: M actions sampled from a policy for every state of the dataset, by the
//! batched Euler sampler, written into a layout of groups (ALGORITHM.md section 4, stage 2).
//!
//! The critic uses M behaviour actions per next state (dense, len×M rows); policy
//! improvement keeps each state's support set [a_i0 | a_i1..a_iM] together (len×(M+1) rows,
//! the dataset action in slot 0), so the samples go to slots 1..M of every group.
//!
//! A policy of copies (seeds) samples for all of them at once; copy c's samples go to table c
//! of `dst`, which holds one such layout per copy, back to back.

use anyhow::Result;

use crate::flow::{EulerSampler, VelocityNet};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::rows::{CopyRows, CopyRowsParams};
use crate::random::RngStream;

/// States sampled per chunk: bounds the sampler's buffers whatever the dataset's size.
pub const CHUNK_STATES: usize = 4096;

/// States per chunk for `copies` networks sampled together, at most `len`: the chunk shrinks
/// with the copies so the buffers stay the same size.
pub fn chunk_states(len: usize, copies: usize) -> usize {
    (CHUNK_STATES / copies.max(1)).max(1).min(len.max(1))
}

/// States per chunk of a support sampler: [`chunk_states`], fewer where one chunk's widest
/// buffer (`copies × m` rows of `widest_row` values per state) would not fit in one binding
/// of `binding_limit` bytes. The residual network's time projection is 1792 values a row,
/// which at 4096 states of 16 samples is 470 MB.
pub fn support_chunk(len: usize, copies: usize, m: usize, widest_row: usize, binding_limit: u64) -> usize {
    let bytes_per_state = (copies.max(1) * m.max(1) * widest_row.max(1) * 4) as u64;
    let fits = (binding_limit / bytes_per_state).max(1) as usize;
    chunk_states(len, copies).min(fits)
}

/// Where the samples of each state go: groups of `group` rows, its `actions` samples from
/// row `first` of its group on.
#[derive(Clone, Copy, Debug)]
pub struct SupportLayout {
    pub actions: usize,
    pub group: usize,
    pub first: usize,
}

impl SupportLayout {
    /// `actions` samples per state, nothing else: the critic's support of each next state.
    pub fn alone(actions: usize) -> Self {
        Self { actions, group: actions, first: 0 }
    }

    /// `actions` samples after the dataset's action: policy improvement's support sets.
    pub fn after_dataset_action(actions: usize) -> Self {
        Self { actions, group: actions + 1, first: 1 }
    }
}

/// Samples M actions for each of `len` states of a state table, chunk by chunk.
///
/// ```
/// use qipo::rl::support::{chunk_states, support_chunk};
/// // 4096 states a chunk, unless one chunk's widest buffer would not fit one binding:
/// assert_eq!(support_chunk(100_000, 1, 16, 256, 128 << 20), chunk_states(100_000, 1));
/// assert_eq!(support_chunk(100_000, 1, 16, 1792, 128 << 20), 1170);
/// ```
pub struct SupportSampler {
    sampler: EulerSampler,
    copy: CopyRows,
    len: usize,
    m: usize,
    act_dim: usize,
    chunk: usize,
    layout: SupportLayout,
    copies: usize,
}

impl SupportSampler {
    /// `states` is len×cond_dim; `dst` receives the samples in `layout`, a table per copy.
    pub fn new(
        gpu: &Gpu,
        policy: &VelocityNet,
        states: &GpuBuffer,
        len: usize,
        dst: &GpuBuffer,
        layout: SupportLayout,
        euler_steps: usize,
    ) -> Result<Self> {
        let m = layout.actions;
        anyhow::ensure!(m > 0, "support sets need at least one action (support.actions >= 1)");
        anyhow::ensure!(layout.first + m <= layout.group, "support layout too small for {m} actions");
        let binding_limit = gpu.limits.max_storage_buffer_binding_size;
        let chunk = support_chunk(len, policy.copies(), m, policy.spec.widest_row(), binding_limit);
        let sampler = EulerSampler::new(gpu, policy, states, chunk * m, m, euler_steps)?;
        let copy = CopyRows::new(gpu, &sampler.x, dst)?;
        let copies = policy.copies();
        let table = len * layout.group * policy.spec.dim;
        anyhow::ensure!(
            dst.len >= copies * table,
            "the support table holds {} values, not {copies} × {table}",
            dst.len
        );
        Ok(Self { sampler, copy, len, m, act_dim: policy.spec.dim, chunk, layout, copies })
    }

    /// Records sampling for every state; actions are clipped to [-1, 1], D4RL's bounds. The
    /// whole table is one draw of `rng`, so the chunks do not change the samples.
    pub fn record_all(&self, rec: &mut Recorder, policy: &VelocityNet, rng: &mut RngStream) {
        let draw = rng.next_draw();
        let mut first_state = 0;
        while first_state < self.len {
            let states = self.chunk.min(self.len - first_state);
            let rows = states * self.m;
            let first_sample = first_state * self.m;
            self.sampler.record_part(rec, policy, rows, first_state, draw, first_sample, Some((-1.0, 1.0)));
            let table = self.len * self.layout.group * self.act_dim;
            for c in 0..self.copies {
                let params = CopyRowsParams {
                    rows: rows as u32,
                    width: self.act_dim as u32,
                    per_group: self.m as u32,
                    dst_group: self.layout.group as u32,
                    dst_first: self.layout.first as u32,
                    src_off: (c * rows * self.act_dim) as u32,
                    dst_off: (c * table + first_state * self.layout.group * self.act_dim) as u32,
                };
                self.copy.record(rec, params);
            }
            first_state += states;
        }
    }
}
