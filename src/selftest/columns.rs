//! Column blocks (`shaders/columns.wgsl`) against their CPU twin.

use anyhow::{ensure, Result};

use super::{bits, values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::columns::{Columns, COLUMNS};
use crate::ops::{ColumnMode, ColumnView};
use crate::reference;

/// A block of `width` columns of `rows` rows moved between two matrices, per copy.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub rows: usize,
    pub width: usize,
    /// The source matrix's width and the block's first column in it.
    pub src: (usize, usize),
    /// The destination matrix's width and the block's first column in it.
    pub dst: (usize, usize),
    pub mode: ColumnMode,
    pub copies: usize,
    pub seed: u64,
}

/// Runs the case with the matrices 2 and 3 words into their buffers and a word after the
/// destination, so wrong offsets and writes past the end show; the whole destination buffer
/// must match bit for bit.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { rows, width, src: (src_w, src_first), dst: (dst_w, dst_first), mode, copies, seed } = *case;
    let src_view = ColumnView { offset: 2 + src_first, ..ColumnView::of(src_w, 0, rows) };
    let dst_view = ColumnView { offset: 3 + dst_first, ..ColumnView::of(dst_w, 0, rows) };
    let src = values(seed, 2 + copies * rows * src_w, 1.0);
    let before = values(seed + 1, 3 + copies * rows * dst_w + 1, 1.0);
    let mut want = before.clone();
    reference::columns::columns(&src, &mut want, rows, width, src_view, dst_view, mode, copies);
    ensure!(want != before, "the case moves nothing: {case:?}");
    let src_buf = GpuBuffer::from_slice(gpu, "columns source", &src)?;
    let dst_buf = GpuBuffer::from_slice(gpu, "columns destination", &before)?;
    let mut rec = Recorder::new(gpu);
    Columns::new(gpu, &src_buf, &dst_buf)?.record(&mut rec, rows, width, src_view, dst_view, mode, copies);
    rec.submit_and_wait()?;
    Ok(Check::exact("column blocks", &[COLUMNS], &bits(&dst_buf.read::<f32>(gpu)?), &bits(&want)))
}
