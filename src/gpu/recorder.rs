//! Recording many dispatches into one command encoder and submitting them together.
//!
//! The GPU owns the training loop: thousands of dispatches (many steps) go into one encoder
//! and one submit. All dispatches share one compute pass; wgpu inserts the barriers that
//! order a dispatch's writes before the next one's reads.

use anyhow::Result;

use super::context::Gpu;
use super::kernel::Pipeline;
use super::timer::GpuTimer;
use super::WORKGROUP_1D;

/// Workgroup counts for `n` invocations in workgroups of `workgroup` along x, spilling into y
/// when x alone would exceed the per-dimension limit. Kernels compute their linear index as
/// `gid.x + gid.y * num_workgroups.x * workgroup` and skip indices `>= n`.
pub fn grid_1d(gpu: &Gpu, n: usize, workgroup: u32) -> [u32; 3] {
    let groups = n.div_ceil(workgroup as usize).max(1) as u64;
    let max = gpu.limits.max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        [groups as u32, 1, 1]
    } else {
        [max as u32, groups.div_ceil(max) as u32, 1]
    }
}

pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    /// Dispatches recorded so far.
    pub dispatches: usize,
}

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        let encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("qipo") });
        Self { gpu, encoder: Some(encoder), pass: None, dispatches: 0 }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.pass = None; // a pass must end before the encoder records anything else
        self.encoder.as_mut().expect("recorder already submitted")
    }

    fn pass(&mut self) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            let encoder = self.encoder.as_mut().expect("recorder already submitted");
            self.pass = Some(encoder.begin_compute_pass(&Default::default()).forget_lifetime());
        }
        self.pass.as_mut().expect("pass was just begun")
    }

    /// Records one dispatch. `immediates` are the kernel's sizes and offsets (a `#[repr(C)]`
    /// struct of 4-byte fields matching the kernel's `var<immediate>`).
    pub fn dispatch(&mut self, pipeline: &Pipeline, bind_group: &wgpu::BindGroup, immediates: &[u8], groups: [u32; 3]) {
        let pass = self.pass();
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        if !immediates.is_empty() {
            pass.set_immediates(0, immediates);
        }
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.dispatches += 1;
    }

    /// Records a dispatch of `n` invocations of a one-dimensional kernel.
    pub fn dispatch_1d(&mut self, pipeline: &Pipeline, bind_group: &wgpu::BindGroup, immediates: &[u8], n: usize) {
        let groups = grid_1d(self.gpu, n, WORKGROUP_1D);
        self.dispatch(pipeline, bind_group, immediates, groups);
    }

    /// Copies `len` 4-byte elements between buffers, in order with the dispatches around it.
    pub fn copy(&mut self, src: &wgpu::Buffer, src_start: usize, dst: &wgpu::Buffer, dst_start: usize, len: usize) {
        if len == 0 {
            return;
        }
        self.encoder().copy_buffer_to_buffer(src, src_start as u64 * 4, dst, dst_start as u64 * 4, len as u64 * 4);
    }

    /// Runs `body` in a compute pass of its own whose start and end are timestamped into
    /// `timer`'s slot (untimed where the adapter has no timestamps).
    pub fn timed(&mut self, timer: &GpuTimer, slot: usize, body: impl FnOnce(&mut Self)) {
        self.pass = None;
        if let Some(writes) = timer.pass_writes(slot) {
            let encoder = self.encoder.as_mut().expect("recorder already submitted");
            let desc = wgpu::ComputePassDescriptor { label: Some("timed"), timestamp_writes: Some(writes) };
            self.pass = Some(encoder.begin_compute_pass(&desc).forget_lifetime());
        }
        body(self);
        self.pass = None;
    }

    /// Copies a timer's results into its readback buffer (call before `submit`).
    pub fn resolve(&mut self, timer: &GpuTimer) {
        timer.resolve(self.encoder());
    }

    /// Submits everything recorded, without waiting for it to finish.
    pub fn submit(mut self) -> Result<()> {
        self.pass = None;
        let encoder = self.encoder.take().expect("recorder already submitted");
        self.gpu.queue.submit([encoder.finish()]);
        self.gpu.check_errors()
    }

    /// Submits and waits until the GPU has finished.
    pub fn submit_and_wait(self) -> Result<()> {
        let gpu = self.gpu;
        self.submit()?;
        gpu.wait()
    }
}
