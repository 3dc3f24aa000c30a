//! CPU twin of shaders/squared_error.wgsl (and of the block sums it shares with
//! shaders/expectile.wgsl).

/// Returns (per-row losses, gradient with respect to `pred`) of
/// `scale · w_i · Σ_j (pred_ij - target_ij)²`.
pub fn weighted_squared_error(
    pred: &[f32],
    target: &[f32],
    weights: Option<&[f32]>,
    rows: usize,
    cols: usize,
    scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut loss = vec![0.0f32; rows];
    let mut grad = vec![0.0f32; rows * cols];
    for r in 0..rows {
        let w = scale * weights.map_or(1.0, |w| w[r]);
        let mut sum = 0.0f32;
        for j in 0..cols {
            let d = pred[r * cols + j] - target[r * cols + j];
            sum += d * d;
            grad[r * cols + j] = 2.0 * w * d;
        }
        loss[r] = w * sum;
    }
    (loss, grad)
}

/// The sum of each block of `block_rows` consecutive values (the last block may be shorter):
/// the per-copy totals the loss kernels write.
pub fn block_sums(values: &[f32], block_rows: usize) -> Vec<f32> {
    values.chunks(block_rows.max(1)).map(|block| block.iter().sum()).collect()
}
