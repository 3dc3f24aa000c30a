//! CPU twin of shaders/gather_rows.wgsl: rows of a row-major table picked by index.

/// What the kernel writes for an index past the last source row: all-ones bits, a NaN.
pub const BAD_INDEX_VALUE: u32 = u32::MAX;

/// `out[r, :] = src[indices[r], :]` for rows of `width` values; `src` holds whole rows only.
/// An index past the last row of `src` gives a row of [`BAD_INDEX_VALUE`] as f32 (NaN).
pub fn gather_rows(src: &[f32], width: usize, indices: &[u32]) -> Vec<f32> {
    let src_rows = src.len().checked_div(width).unwrap_or(0);
    let mut out = Vec::with_capacity(indices.len() * width);
    for &index in indices {
        let index = index as usize;
        if index < src_rows {
            out.extend_from_slice(&src[index * width..(index + 1) * width]);
        } else {
            out.extend(std::iter::repeat_n(f32::from_bits(BAD_INDEX_VALUE), width));
        }
    }
    out
}
