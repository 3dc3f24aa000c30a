//! CPU twin of shaders/columns.wgsl.

use crate::ops::{ColumnMode, ColumnView};

/// `dst[r, c] (+)= src[r, c]` for r < rows, c < width and every copy, each matrix read
/// through its view.
#[allow(clippy::too_many_arguments)]
pub fn columns(
    src: &[f32],
    dst: &mut [f32],
    rows: usize,
    width: usize,
    src_view: ColumnView,
    dst_view: ColumnView,
    mode: ColumnMode,
    copies: usize,
) {
    for k in 0..copies {
        for r in 0..rows {
            for c in 0..width {
                let from = src_view.offset + k * src_view.copy_stride + r * src_view.row_stride + c;
                let to = dst_view.offset + k * dst_view.copy_stride + r * dst_view.row_stride + c;
                dst[to] = match mode {
                    ColumnMode::Copy => src[from],
                    ColumnMode::Add => dst[to] + src[from],
                };
            }
        }
    }
}

/// The concatenation [a | b] of two row-major matrices of `rows` rows, row by row.
pub fn concat(a: &[f32], b: &[f32], rows: usize) -> Vec<f32> {
    let (wa, wb) = (a.len() / rows.max(1), b.len() / rows.max(1));
    (0..rows).flat_map(|r| a[r * wa..(r + 1) * wa].iter().chain(&b[r * wb..(r + 1) * wb]).copied()).collect()
}

/// Columns `first..first + width` of a row-major matrix `stride` wide.
pub fn slice(m: &[f32], rows: usize, stride: usize, first: usize, width: usize) -> Vec<f32> {
    (0..rows).flat_map(|r| m[r * stride + first..r * stride + first + width].iter().copied()).collect()
}
