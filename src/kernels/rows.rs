//! Moving and combining rows: `shaders/copy_rows.wgsl` (dense rows into groups of a strided
//! layout) and `shaders/minimum.wgsl` (elementwise minimum of two arrays).

use anyhow::Result;

use super::critic::TwinHeads;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const COPY_SRC: Source = ("copy_rows.wgsl", include_str!("../../shaders/copy_rows.wgsl"));
const MIN_SRC: Source = ("minimum.wgsl", include_str!("../../shaders/minimum.wgsl"));

/// Bindings: source, destination.
pub const COPY_ROWS: Kernel =
    Kernel { sources: &[COPY_SRC], entry: "copy_rows", bindings: &[Access::Read, Access::ReadWrite] };
/// Bindings: a, b, out.
pub const MINIMUM: Kernel =
    Kernel { sources: &[MIN_SRC], entry: "minimum", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };

pub const KERNELS: [Kernel; 2] = [COPY_ROWS, MINIMUM];

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CopyRowsParams {
    pub rows: u32,
    pub width: u32,
    /// Source rows per group.
    pub per_group: u32,
    /// Destination rows per group.
    pub dst_group: u32,
    /// The destination slot of a group's first row.
    pub dst_first: u32,
    pub src_off: u32,
    pub dst_off: u32,
}

/// Source row r → destination row (r / per_group)·dst_group + dst_first + r % per_group.
pub struct CopyRows(Bound);

impl CopyRows {
    pub fn new(gpu: &Gpu, src: &GpuBuffer, dst: &GpuBuffer) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &COPY_ROWS, &[src, dst])?))
    }

    pub fn record(&self, rec: &mut Recorder, params: CopyRowsParams) {
        assert!(params.per_group > 0 && params.dst_first + params.per_group <= params.dst_group, "bad row groups");
        self.0.record_1d(rec, &params, (params.rows * params.width) as usize);
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MinimumParams {
    pub count: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub out_off: u32,
    /// Elements per copy (seed); copy c reads its inputs `copy_stride` further on per copy.
    /// 0: one copy.
    pub copy_len: u32,
    pub copy_stride: u32,
}

/// out = min(a, b) elementwise.
pub struct Minimum(Bound);

impl Minimum {
    pub fn new(gpu: &Gpu, a: &GpuBuffer, b: &GpuBuffer, out: &GpuBuffer) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &MINIMUM, &[a, b, out])?))
    }

    /// Records out[out_off..][..count] = min(a[..count], b[..count]).
    pub fn record(&self, rec: &mut Recorder, count: usize, out_off: usize) {
        let p = MinimumParams { count: count as u32, out_off: out_off as u32, ..Default::default() };
        self.record_with(rec, p);
    }

    /// Records out[out_off..] = the smaller of seed `seed`'s twin heads, laid out as `heads`.
    pub fn record_twin_heads(&self, rec: &mut Recorder, heads: TwinHeads, seed: usize, out_off: usize) {
        let params = MinimumParams {
            count: heads.rows as u32,
            a_off: heads.start(seed, 0) as u32,
            b_off: heads.start(seed, 1) as u32,
            out_off: out_off as u32,
            ..Default::default()
        };
        self.record_with(rec, params);
    }

    pub fn record_with(&self, rec: &mut Recorder, params: MinimumParams) {
        self.0.record_1d(rec, &params, params.count as usize);
    }
}
