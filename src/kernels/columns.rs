//! Moving column blocks between row-major matrices: `shaders/columns.wgsl`, what joins the
//! residual velocity network's linear layers (concatenations, skip connections, gradient
//! sums).

use anyhow::{ensure, Result};

use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder, WORKGROUP_1D};
use crate::ops::{ColumnMode, ColumnView};

const SRC: Source = ("columns.wgsl", include_str!("../../shaders/columns.wgsl"));

/// Bindings: source, destination.
pub const COLUMNS: Kernel = Kernel { sources: &[SRC], entry: "columns", bindings: &[Access::Read, Access::ReadWrite] };

pub const KERNELS: [Kernel; 1] = [COLUMNS];

/// The immediates of shaders/columns.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ColumnsParams {
    rows: u32,
    width: u32,
    src_off: u32,
    src_row_stride: u32,
    src_copy_stride: u32,
    dst_off: u32,
    dst_row_stride: u32,
    dst_copy_stride: u32,
    accumulate: u32,
}

/// `dst[r, c] (+)= src[r, c]` over a block of `rows × width`, for every copy.
pub struct Columns(Bound);

impl Columns {
    /// `src` and `dst` must be different buffers.
    pub fn new(gpu: &Gpu, src: &GpuBuffer, dst: &GpuBuffer) -> Result<Self> {
        ensure!(src.buffer != dst.buffer, "a column block cannot move within '{}'", src.label);
        Ok(Self(Bound::new(gpu, &COLUMNS, &[src, dst])?))
    }

    /// Records the block move for `copies` copies.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        rec: &mut Recorder,
        rows: usize,
        width: usize,
        src: ColumnView,
        dst: ColumnView,
        mode: ColumnMode,
        copies: usize,
    ) {
        assert!(width <= src.row_stride && width <= dst.row_stride, "a {width}-wide block in narrower rows");
        if rows == 0 || width == 0 || copies == 0 {
            return;
        }
        let u = |x: usize| u32::try_from(x).expect("sizes and offsets fit in u32");
        let params = ColumnsParams {
            rows: u(rows),
            width: u(width),
            src_off: u(src.offset),
            src_row_stride: u(src.row_stride),
            src_copy_stride: u(src.copy_stride),
            dst_off: u(dst.offset),
            dst_row_stride: u(dst.row_stride),
            dst_copy_stride: u(dst.copy_stride),
            accumulate: u32::from(mode == ColumnMode::Add),
        };
        let mut grid = grid_1d(rec.gpu(), rows * width, WORKGROUP_1D);
        grid[2] = u(copies);
        self.0.record(rec, &params, grid);
    }
}
