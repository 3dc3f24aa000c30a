//! A kernel bound to its buffers on the opened device.

use std::sync::Arc;

use anyhow::Result;

use super::buffer::GpuBuffer;
use super::context::Gpu;
use super::kernel::{Kernel, Pipeline};
use super::recorder::Recorder;

/// A compiled kernel with its buffers bound: ready to record any number of times.
pub struct Bound {
    pub pipeline: Arc<Pipeline>,
    pub bind_group: wgpu::BindGroup,
}

impl Bound {
    /// Compiles (or fetches from the cache) `kernel` and binds `buffers` to it in order.
    pub fn new(gpu: &Gpu, kernel: &Kernel, buffers: &[&GpuBuffer]) -> Result<Self> {
        let pipeline = gpu.pipeline(kernel)?;
        let raw: Vec<&wgpu::Buffer> = buffers.iter().map(|b| &b.buffer).collect();
        let bind_group = pipeline.bind(&gpu.device, &raw);
        Ok(Self { pipeline, bind_group })
    }

    /// Records one dispatch over an explicit grid of workgroups.
    pub fn record<P: bytemuck::Pod>(&self, rec: &mut Recorder, params: &P, groups: [u32; 3]) {
        rec.dispatch(&self.pipeline, &self.bind_group, bytemuck::bytes_of(params), groups);
    }

    /// Records one dispatch of `n` invocations of a one-dimensional kernel.
    pub fn record_1d<P: bytemuck::Pod>(&self, rec: &mut Recorder, params: &P, n: usize) {
        rec.dispatch_1d(&self.pipeline, &self.bind_group, bytemuck::bytes_of(params), n);
    }
}
