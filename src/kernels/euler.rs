//! One Euler step of the flow ODE: `shaders/euler_step.wgsl`.

use anyhow::Result;

use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const SOURCE: Source = ("euler_step.wgsl", include_str!("../../shaders/euler_step.wgsl"));

/// Bindings: velocity, x (updated in place).
pub const EULER_STEP: Kernel =
    Kernel { sources: &[SOURCE], entry: "euler_step", bindings: &[Access::Read, Access::ReadWrite] };

pub const KERNELS: [Kernel; 1] = [EULER_STEP];

const FLAG_CLIP: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EulerParams {
    pub count: u32,
    pub x_off: u32,
    pub v_off: u32,
    pub flags: u32,
    pub dt: f32,
    pub low: f32,
    pub high: f32,
}

/// `x ← x + dt·v`, optionally clipped to `[low, high]` afterwards.
pub struct EulerStep(Bound);

impl EulerStep {
    pub fn new(gpu: &Gpu, velocity: &GpuBuffer, x: &GpuBuffer) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &EULER_STEP, &[velocity, x])?))
    }

    /// Records one step over `count` values starting at element 0 of both buffers.
    pub fn record(&self, rec: &mut Recorder, count: usize, dt: f32, clip: Option<(f32, f32)>) {
        let (low, high) = clip.unwrap_or((0.0, 0.0));
        let p = EulerParams {
            count: count as u32,
            flags: if clip.is_some() { FLAG_CLIP } else { 0 },
            dt,
            low,
            high,
            ..Default::default()
        };
        self.0.record_1d(rec, &p, count);
    }
}
