//! CPU twins of shaders/copy_rows.wgsl and shaders/minimum.wgsl.

/// Copies `src` (dense rows of `width`) into `dst`: source row r goes to destination row
/// (r / per_group)·dst_group + dst_first + r % per_group.
pub fn copy_rows(src: &[f32], dst: &mut [f32], width: usize, per_group: usize, dst_group: usize, dst_first: usize) {
    for (r, row) in src.chunks(width).enumerate() {
        let d = (r / per_group) * dst_group + dst_first + r % per_group;
        dst[d * width..(d + 1) * width].copy_from_slice(row);
    }
}

pub fn minimum(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).collect()
}
