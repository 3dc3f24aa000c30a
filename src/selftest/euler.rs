//! The Euler step (`shaders/euler_step.wgsl`) against its CPU twin.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::euler::{EulerStep, EULER_STEP};
use crate::reference;

/// Steps of `dt` on `n` values, one per entry of `clips`: unclipped, or clipped to a range.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub n: usize,
    pub dt: f32,
    pub clips: &'static [Option<(f32, f32)>],
    pub seed: u64,
    /// Relative to 1 + |cpu|.
    pub tolerance: f32,
}

pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { n, dt, clips, seed, tolerance } = *case;
    let x = values(seed, n, 2.0);
    let v = values(seed + 1, n, 5.0);
    let mut want = x.clone();
    for &clip in clips {
        reference::flow::euler_step(&mut want, &v, dt, clip);
    }
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x)?;
    let v_buf = GpuBuffer::from_slice(gpu, "v", &v)?;
    let op = EulerStep::new(gpu, &v_buf, &x_buf)?;
    let mut rec = Recorder::new(gpu);
    for &clip in clips {
        op.record(&mut rec, n, dt, clip);
    }
    rec.submit_and_wait()?;
    Ok(Check::close("Euler step (then clipped)", &[EULER_STEP], &x_buf.read::<f32>(gpu)?, &want, tolerance))
}
