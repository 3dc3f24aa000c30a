//! Support-set assembly (`shaders/copy_rows.wgsl`, `shaders/minimum.wgsl`) against its CPU
//! twins: dense rows copied into slots of groups, and the elementwise minimum.

use anyhow::Result;

use super::{bits, values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::rows::{CopyRows, CopyRowsParams, Minimum, MinimumParams, COPY_ROWS, MINIMUM};
use crate::reference;

/// `groups` groups of `per_group` rows of `width` values in [-1, 1), copied into groups of
/// `dst_group` rows from slot `dst_first` on.
#[derive(Debug, Clone, Copy)]
pub struct CopyCase {
    pub groups: usize,
    pub per_group: usize,
    pub dst_group: usize,
    pub dst_first: usize,
    pub width: usize,
    pub seed: u64,
}

/// min(a, b) of `n` values in [-5, 5).
#[derive(Debug, Clone, Copy)]
pub struct MinimumCase {
    pub n: usize,
    pub seed: u64,
}

/// Runs the case with the source 2 words into its buffer and the groups 3 words into a
/// buffer of other values, which must match bit for bit as a whole.
pub fn check_copy_rows(gpu: &Gpu, case: &CopyCase) -> Result<Check> {
    let CopyCase { groups, per_group, dst_group, dst_first, width, seed } = *case;
    let rows = groups * per_group;
    let src = values(seed, rows * width, 1.0);
    let before = values(seed + 1, groups * dst_group * width + 3, 1.0);
    let mut want = before.clone();
    reference::rows::copy_rows(&src, &mut want[3..], width, per_group, dst_group, dst_first);
    let src_buf = GpuBuffer::from_slice(gpu, "rows", &[vec![0.0; 2], src].concat())?;
    let dst_buf = GpuBuffer::from_slice(gpu, "groups", &before)?;
    let op = CopyRows::new(gpu, &src_buf, &dst_buf)?;
    let mut rec = Recorder::new(gpu);
    let params = CopyRowsParams {
        rows: rows as u32,
        width: width as u32,
        per_group: per_group as u32,
        dst_group: dst_group as u32,
        dst_first: dst_first as u32,
        src_off: 2,
        dst_off: 3,
    };
    op.record(&mut rec, params);
    rec.submit_and_wait()?;
    Ok(Check::exact("copy rows into groups", &[COPY_ROWS], &bits(&dst_buf.read::<f32>(gpu)?), &bits(&want)))
}

/// Runs the case with b 1 word into its buffer and the output 2 words into a buffer of
/// zeros, which must match bit for bit as a whole.
pub fn check_minimum(gpu: &Gpu, case: &MinimumCase) -> Result<Check> {
    let MinimumCase { n, seed } = *case;
    let a = values(seed, n, 5.0);
    let b = values(seed + 9, n + 1, 5.0);
    let want = [vec![0.0; 2], reference::rows::minimum(&a, &b[1..])].concat();
    let a_buf = GpuBuffer::from_slice(gpu, "a", &a)?;
    let b_buf = GpuBuffer::from_slice(gpu, "b", &b)?;
    let out = GpuBuffer::zeros(gpu, "min", n + 2)?;
    let op = Minimum::new(gpu, &a_buf, &b_buf, &out)?;
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, MinimumParams { count: n as u32, a_off: 0, b_off: 1, out_off: 2, ..Default::default() });
    rec.submit_and_wait()?;
    Ok(Check::exact("minimum", &[MINIMUM], &bits(&out.read::<f32>(gpu)?), &bits(&want)))
}
