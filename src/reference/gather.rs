//! CPU twin of shaders/gather_rows.wgsl: minibatch rows of tables picked by indices drawn
//! inline.

use super::rng;
use crate::random::RngDraw;

/// The indices of `copies` minibatches of `copy_rows` rows in [0, n): copy c's are the first
/// `copy_rows` indices of `draw` with the seed advanced by c, as the kernel draws them.
pub fn drawn_indices(draw: RngDraw, copies: usize, copy_rows: usize, n: u32) -> Vec<u32> {
    (0..copies as u32).flat_map(|c| rng::fill_indices(draw.for_copy(c), copy_rows, n)).collect()
}

/// `out[r, :] = src[indices[r], :]` for rows of `width` values; every index names a row of
/// `src`.
pub fn gather_rows(src: &[f32], width: usize, indices: &[u32]) -> Vec<f32> {
    indices.iter().flat_map(|&i| &src[i as usize * width..(i as usize + 1) * width]).copied().collect()
}
