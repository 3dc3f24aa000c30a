//! Reductions (`shaders/reduce.wgsl`) against their f64 CPU twin: a range to one number,
//! and each row of a matrix.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Kernel, Recorder};
use crate::kernels::reduce::{Reduce, REDUCE_RANGE, REDUCE_ROWS};
use crate::ops::ReduceOp;
use crate::reference::reduce::{reduce, reduce_rows};

/// How close a result must be to the f64 one.
#[derive(Debug, Clone, Copy)]
pub enum Tolerance {
    /// Relative to 1 + |cpu|.
    Relative(f32),
    /// This multiple of the sum of magnitudes behind the result (|x|, or x² for the sum of
    /// squares), the scale of the rounding errors of f32 additions; the max must be exact.
    /// The error is reported in units of that bound.
    Rounding(f64),
}

/// Every op over `len` values uniform in [mean - 1, mean + 1).
#[derive(Debug, Clone, Copy)]
pub struct RangeCase {
    pub len: usize,
    pub mean: f32,
    /// Puts the range between guard words of 1e9 (3 before, 2 after) that must not count.
    pub guarded: bool,
    pub seed: u64,
    pub tolerance: Tolerance,
}

/// Every op over each row of a `rows` × `cols` matrix of values in [-2, 2).
#[derive(Debug, Clone, Copy)]
pub struct RowsCase {
    pub rows: usize,
    pub cols: usize,
    pub seed: u64,
    pub tolerance: Tolerance,
}

/// One check per op. The results go to every other word of a buffer of NaNs, whose other
/// words must stay NaN.
pub fn check_range(gpu: &Gpu, case: &RangeCase) -> Result<Vec<Check>> {
    let RangeCase { len, mean, guarded, seed, tolerance } = *case;
    let x: Vec<f32> = values(seed, len, 1.0).iter().map(|v| v + mean).collect();
    let (before, after) = if guarded { (3, 2) } else { (0, 0) };
    let input = GpuBuffer::from_slice(gpu, "x", &[vec![1e9; before], x.clone(), vec![1e9; after]].concat())?;
    let output = GpuBuffer::from_slice(gpu, "range results", &[f32::NAN; 9])?;
    let op = Reduce::new(gpu, &input, &output)?;
    let mut rec = Recorder::new(gpu);
    for (k, reduction) in ReduceOp::ALL.into_iter().enumerate() {
        op.record(&mut rec, reduction, before, len, 1 + 2 * k);
    }
    rec.submit_and_wait()?;
    let got: Vec<f32> = output.read(gpu)?;
    let nan: Vec<u32> = got.iter().step_by(2).map(|v| v.is_nan() as u32).collect();
    let untouched = Check::exact("reduce: nothing written between the results", &[REDUCE_RANGE], &nan, &[1; 5]);
    let checks = ReduceOp::ALL.into_iter().enumerate().map(|(k, op)| {
        let name = format!("reduce {} (2 passes)", op_name(op));
        let result = compare(&name, REDUCE_RANGE, &[(got[1 + 2 * k], reduce(&x, op), &x[..], op)], tolerance);
        Check::all(&name, &[REDUCE_RANGE], &[result, untouched.clone()])
    });
    Ok(checks.collect())
}

/// One check of every op over every row.
pub fn check_rows(gpu: &Gpu, case: &RowsCase) -> Result<Check> {
    let RowsCase { rows, cols, seed, tolerance } = *case;
    let x = values(seed, rows * cols, 2.0);
    // The matrix 5 words into its buffer, the results 2 words into theirs.
    let input = GpuBuffer::from_slice(gpu, "matrix", &[vec![1e9; 5], x.clone()].concat())?;
    let output = GpuBuffer::from_slice(gpu, "row results", &vec![f32::NAN; 2 + 4 * rows])?;
    let op = Reduce::new(gpu, &input, &output)?;
    let mut rec = Recorder::new(gpu);
    for (k, reduction) in ReduceOp::ALL.into_iter().enumerate() {
        op.record_rows(&mut rec, reduction, 5, rows, cols, 2 + k * rows);
    }
    rec.submit_and_wait()?;
    let got: Vec<f32> = output.read(gpu)?;
    let mut results = Vec::new();
    for (k, op) in ReduceOp::ALL.into_iter().enumerate() {
        let want = reduce_rows(&x, rows, cols, op);
        for (r, &want) in want.iter().enumerate() {
            results.push((got[2 + k * rows + r], want, &x[r * cols..(r + 1) * cols], op));
        }
    }
    Ok(compare("reduce rows (every op)", REDUCE_ROWS, &results, tolerance))
}

/// Results (gpu, f64 cpu, the values reduced, the op) against the tolerance.
fn compare(name: &str, kernel: Kernel, results: &[(f32, f64, &[f32], ReduceOp)], tolerance: Tolerance) -> Check {
    match tolerance {
        Tolerance::Relative(tolerance) => {
            let got: Vec<f32> = results.iter().map(|r| r.0).collect();
            let want: Vec<f32> = results.iter().map(|r| r.1 as f32).collect();
            Check::close(name, &[kernel], &got, &want, tolerance)
        }
        Tolerance::Rounding(factor) => {
            let error = |&(got, want, x, op): &(f32, f64, &[f32], ReduceOp)| {
                if want.is_infinite() {
                    return if got as f64 == want { 0.0 } else { f64::INFINITY };
                }
                (got as f64 - want).abs() / (factor * magnitude(x, op) + 1e-30)
            };
            let error = results.iter().map(error).fold(0.0, f64::max);
            // Passed is decided in f64, before the error is rounded to f32 for the report.
            Check { passed: error <= 1.0, ..Check::new(name, &[kernel], error as f32, 1.0) }
        }
    }
}

/// The sum of |x| (or x², or nothing for the max, which is exact) behind an op's rounding
/// errors.
fn magnitude(x: &[f32], op: ReduceOp) -> f64 {
    let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    match op {
        ReduceOp::Sum | ReduceOp::Mean => reduce(&abs, op),
        ReduceOp::SumOfSquares => reduce(x, ReduceOp::SumOfSquares),
        ReduceOp::Max => 0.0,
    }
}

pub(super) fn op_name(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "sum",
        ReduceOp::Mean => "mean",
        ReduceOp::Max => "max",
        ReduceOp::SumOfSquares => "sum of squares",
    }
}
