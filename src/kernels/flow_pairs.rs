//! Flow-matching training pairs: `shaders/flow_pairs.wgsl`.

use anyhow::Result;

use super::snippets::RNG;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::random::{RngDraw, RngStream};

const SOURCE: Source = ("flow_pairs.wgsl", include_str!("../../shaders/flow_pairs.wgsl"));

/// Bindings: x1 (data), x_t (out), t (out), target velocity (out).
pub const FLOW_PAIRS: Kernel = Kernel {
    sources: &[RNG, SOURCE],
    entry: "flow_pairs",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
};

pub const KERNELS: [Kernel; 1] = [FLOW_PAIRS];

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FlowPairsParams {
    pub noise: RngDraw,
    pub time: RngDraw,
    pub rows: u32,
    pub dim: u32,
    pub x1_off: u32,
    pub xt_off: u32,
    pub t_off: u32,
    pub target_off: u32,
    /// Rows per copy of a network, each drawing with its own seed (0: one network).
    pub copy_rows: u32,
    /// Consecutive copies that draw as one seed (0 or 1: each copy its own seed).
    pub copies_per_seed: u32,
}

/// Draws x0 and t and writes x_t and the target velocity x1 - x0 for a batch of data rows.
pub struct FlowPairs {
    bound: Bound,
    copies_per_seed: usize,
}

impl FlowPairs {
    pub fn new(gpu: &Gpu, x1: &GpuBuffer, x_t: &GpuBuffer, t: &GpuBuffer, target: &GpuBuffer) -> Result<Self> {
        Ok(Self { bound: Bound::new(gpu, &FLOW_PAIRS, &[x1, x_t, t, target])?, copies_per_seed: 1 })
    }

    /// The pairs for copies of which each seed trains `copies_per_seed` consecutive ones (a
    /// grid of settings per seed): those draw their seed's noise and times.
    pub fn with_copies_per_seed(self, copies_per_seed: usize) -> Self {
        Self { copies_per_seed: copies_per_seed.max(1), ..self }
    }

    /// Records pairs for `rows` rows of `dim` values (all offsets 0), taking one draw from
    /// each stream.
    pub fn record(&self, rec: &mut Recorder, rows: usize, dim: usize, noise: &mut RngStream, time: &mut RngStream) {
        let p = FlowPairsParams {
            noise: noise.next_draw(),
            time: time.next_draw(),
            rows: rows as u32,
            dim: dim as u32,
            ..Default::default()
        };
        self.record_with(rec, p);
    }

    /// Records pairs for `copies` blocks of `copy_rows` rows, one per copy of a network, each
    /// drawn as a run with the streams' seed + c would draw them.
    pub fn record_copies(
        &self,
        rec: &mut Recorder,
        copies: usize,
        copy_rows: usize,
        dim: usize,
        noise: &mut RngStream,
        time: &mut RngStream,
    ) {
        let p = FlowPairsParams {
            noise: noise.next_draw(),
            time: time.next_draw(),
            rows: (copies * copy_rows) as u32,
            dim: dim as u32,
            copy_rows: if copies > 1 { copy_rows as u32 } else { 0 },
            copies_per_seed: self.copies_per_seed as u32,
            ..Default::default()
        };
        self.record_with(rec, p);
    }

    /// Records with explicit draws and offsets.
    pub fn record_with(&self, rec: &mut Recorder, params: FlowPairsParams) {
        self.bound.record_1d(rec, &params, params.rows as usize);
    }
}
