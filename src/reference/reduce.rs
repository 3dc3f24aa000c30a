//! CPU twin of shaders/reduce.wgsl, accumulating in f64.

use crate::ops::ReduceOp;

/// op over `x`: 0 for the sum or mean of nothing, -inf for its max.
pub fn reduce(x: &[f32], op: ReduceOp) -> f64 {
    let values = x.iter().map(|&v| v as f64);
    match op {
        ReduceOp::Sum => values.sum(),
        ReduceOp::Mean => values.sum::<f64>() / x.len().max(1) as f64,
        ReduceOp::Max => values.fold(f64::NEG_INFINITY, f64::max),
        ReduceOp::SumOfSquares => values.map(|v| v * v).sum(),
    }
}

/// op over each row of a dense rows×cols matrix.
pub fn reduce_rows(x: &[f32], rows: usize, cols: usize, op: ReduceOp) -> Vec<f64> {
    assert_eq!(x.len(), rows * cols);
    (0..rows).map(|r| reduce(&x[r * cols..(r + 1) * cols], op)).collect()
}
