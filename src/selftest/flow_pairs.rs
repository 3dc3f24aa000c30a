//! Flow-matching pairs (`shaders/flow_pairs.wgsl`) against their CPU twin: x_t, t and the
//! target velocity from data x1 and drawn noise and times.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::flow_pairs::{FlowPairs, FlowPairsParams, FLOW_PAIRS};
use crate::random::RngDraw;
use crate::reference;

/// Pairs for `rows` rows of `dim` values in [-3, 3).
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub rows: usize,
    pub dim: usize,
    pub noise: RngDraw,
    pub time: RngDraw,
    pub seed: u64,
    /// For t, relative to 1 + |cpu|.
    pub t_tolerance: f32,
    /// For x_t and the target, relative to 1 + |cpu|; x0 is a normal draw, where the
    /// device's log, sin and cos show through.
    pub tolerance: f32,
}

/// Runs the case with x1 3 words into its buffer and t 1 word into its.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { rows, dim, noise, time, seed, t_tolerance, tolerance } = *case;
    let x1 = values(seed, rows * dim, 3.0);
    let (xt_ref, t_ref, target_ref) = reference::flow::flow_pairs(&x1, rows, dim, noise, time);
    let x1_buf = GpuBuffer::from_slice(gpu, "x1", &[vec![0.0; 3], x1].concat())?;
    let xt = GpuBuffer::zeros(gpu, "x_t", rows * dim)?;
    let t = GpuBuffer::zeros(gpu, "t", rows + 1)?;
    let target = GpuBuffer::zeros(gpu, "target", rows * dim)?;
    let op = FlowPairs::new(gpu, &x1_buf, &xt, &t, &target)?;
    let mut rec = Recorder::new(gpu);
    let params =
        FlowPairsParams { noise, time, rows: rows as u32, dim: dim as u32, x1_off: 3, t_off: 1, ..Default::default() };
    op.record_with(&mut rec, params);
    rec.submit_and_wait()?;
    let name = "flow-matching pairs";
    let parts = [
        Check::close(name, &[FLOW_PAIRS], &xt.read::<f32>(gpu)?, &xt_ref, tolerance),
        Check::close(name, &[FLOW_PAIRS], &t.read::<f32>(gpu)?[1..], &t_ref, t_tolerance),
        Check::close(name, &[FLOW_PAIRS], &target.read::<f32>(gpu)?, &target_ref, tolerance),
    ];
    Ok(Check::all(name, &[FLOW_PAIRS], &parts))
}
