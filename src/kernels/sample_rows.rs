//! Euler sampling of a small batch in one dispatch: `shaders/sample_rows.wgsl`.
//!
//! A workgroup per sample runs the velocity network through every Euler step with its
//! activations in workgroup memory; the CPU twin is [`crate::reference::qipo::euler_sample`],
//! the same computation as the batched sampler's.

use anyhow::Result;

use super::snippets::{ACTIVATIONS, FOURIER, RNG};
use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::random::RngDraw;

const SOURCE: Source = ("sample_rows.wgsl", include_str!("../../shaders/sample_rows.wgsl"));

use Access::{Read, ReadWrite};

/// Bindings: network parameters, layer table (u32), frequencies, conditioning rows, samples.
pub const SAMPLE_ROWS: Kernel = Kernel {
    sources: &[ACTIVATIONS, RNG, FOURIER, SOURCE],
    entry: "sample_rows",
    bindings: &[Read, Read, Read, Read, ReadWrite],
};

pub const KERNELS: [Kernel; 1] = [SAMPLE_ROWS];

/// The widest layer (and input row) the kernel holds in workgroup memory (`MAX_WIDTH`).
pub const MAX_WIDTH: usize = 1024;
/// The most coordinates per sample (`MAX_DIM`).
pub const MAX_DIM: usize = 64;

/// The immediates of `sample_rows` (`struct Params` in the shader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleRowsParams {
    pub draw: RngDraw,
    pub rows: u32,
    pub dim: u32,
    pub cond_dim: u32,
    pub frequencies: u32,
    pub layers: u32,
    pub steps: u32,
    pub act: u32,
    pub clip: u32,
    pub low: f32,
    pub high: f32,
}

/// The kernel bound to a network, its layer table, its frequencies, the conditioning rows
/// and the output samples.
pub struct SampleRows(Bound);

impl SampleRows {
    pub fn new(
        gpu: &Gpu,
        params: &GpuBuffer,
        shapes: &GpuBuffer,
        frequencies: &GpuBuffer,
        cond: &GpuBuffer,
        samples: &GpuBuffer,
    ) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &SAMPLE_ROWS, &[params, shapes, frequencies, cond, samples])?))
    }

    /// Records the sampling of `params.rows` samples, one workgroup each.
    pub fn record(&self, rec: &mut Recorder, params: SampleRowsParams) {
        if params.rows == 0 {
            return;
        }
        let grid = grid_1d(rec.gpu(), params.rows as usize, 1);
        self.0.record(rec, &params, grid);
    }
}
