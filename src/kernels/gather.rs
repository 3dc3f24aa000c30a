//! Rows of a table gathered by index: `shaders/gather_rows.wgsl`.

use anyhow::Result;

use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const SOURCE: Source = ("gather_rows.wgsl", include_str!("../../shaders/gather_rows.wgsl"));

/// Bindings: indices (u32), source table, output. Tables are moved as 32-bit words.
pub const GATHER_ROWS: Kernel =
    Kernel { sources: &[SOURCE], entry: "gather_rows", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };

pub const KERNELS: [Kernel; 1] = [GATHER_ROWS];

/// The immediates of `gather_rows` (`struct Params` in the shader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    /// Output rows, one per index used.
    pub rows: u32,
    /// Values per row.
    pub width: u32,
    /// Rows of the source table; an index at or past it gives a row of NaN.
    pub src_rows: u32,
    pub index_off: u32,
    pub src_off: u32,
    pub out_off: u32,
    /// Output rows per copy of a network; copy c reads table c, `src_rows` rows after table
    /// c - 1 (0: one table for all rows).
    pub copy_rows: u32,
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// `out[r, :] = src[indices[r], :]`: rows of a row-major table picked by index.
pub struct Gather {
    bound: Bound,
    index_len: usize,
    src_len: usize,
    out_len: usize,
}

impl Gather {
    pub fn new(gpu: &Gpu, indices: &GpuBuffer, src: &GpuBuffer, out: &GpuBuffer) -> Result<Self> {
        let bound = Bound::new(gpu, &GATHER_ROWS, &[indices, src, out])?;
        Ok(Self { bound, index_len: indices.len, src_len: src.len, out_len: out.len })
    }

    /// Records `rows` rows of `width` values, with every offset 0: the source table is the
    /// whole source buffer.
    pub fn record(&self, rec: &mut Recorder, rows: usize, width: usize) {
        let src_rows = self.src_len.checked_div(width).unwrap_or(0);
        let params = GatherParams { rows: u(rows), width: u(width), src_rows: u(src_rows), ..Default::default() };
        self.record_with(rec, params);
    }

    /// Records `copies` blocks of `copy_rows` rows, block c gathered from table c of the
    /// source, which holds `copies` tables of equal size back to back.
    pub fn record_copies(&self, rec: &mut Recorder, copies: usize, copy_rows: usize, width: usize) {
        let src_rows = self.src_len.checked_div(width * copies.max(1)).unwrap_or(0);
        let params = GatherParams {
            rows: u(copies * copy_rows),
            width: u(width),
            src_rows: u(src_rows),
            copy_rows: if copies > 1 { u(copy_rows) } else { 0 },
            ..Default::default()
        };
        self.record_with(rec, params);
    }

    /// Records with explicit offsets and source size.
    pub fn record_with(&self, rec: &mut Recorder, params: GatherParams) {
        let [rows, width, src_rows] = [params.rows, params.width, params.src_rows].map(|x| x as usize);
        let count = rows * width;
        assert!(params.index_off as usize + rows <= self.index_len, "gather of {rows} rows overruns its indices");
        assert!(params.out_off as usize + count <= self.out_len, "gather of {rows}x{width} overruns its output");
        let tables = if params.copy_rows > 0 { rows.div_ceil(params.copy_rows as usize) } else { 1 };
        let src_len = tables * src_rows * width;
        assert!(params.src_off as usize + src_len <= self.src_len, "gather source overruns its buffer");
        assert!(u32::try_from(count).is_ok(), "gather of {rows}x{width} values exceeds the u32 element index");
        if count == 0 {
            return;
        }
        self.bound.record_1d(rec, &params, count);
    }
}
