//! Batched Euler sampling of a flow: x0 ~ N(0, I), then N steps of x ← x + v(x, t_k)/N on the
//! uniform grid t_k = k/N, for every sample at once, recorded into one submit.

use anyhow::Result;

use super::velocity::{VelocityNet, VelocityPass};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::euler::EulerStep;
use crate::kernels::rng::{Distribution, RngFill, RngStream};
use crate::kernels::time_embedding::EmbeddingOffsets;

/// The sampler of one network, for up to `capacity` samples per call.
pub struct EulerSampler {
    pub capacity: usize,
    pub steps: usize,
    /// Where the samples are, capacity×dim; valid after a recorded call.
    pub x: GpuBuffer,
    /// t_k for every row and step: step k's times start at k·capacity.
    _times: GpuBuffer,
    noise: RngFill,
    pass: VelocityPass,
    euler: EulerStep,
    dim: usize,
}

impl EulerSampler {
    /// `cond` holds one conditioning row per `repeat` samples (any buffer when unconditional).
    pub fn new(
        gpu: &Gpu,
        net: &VelocityNet,
        cond: &GpuBuffer,
        capacity: usize,
        repeat: usize,
        steps: usize,
    ) -> Result<Self> {
        anyhow::ensure!(steps > 0, "the Euler sampler needs at least one step");
        let dim = net.spec.dim;
        let x = GpuBuffer::zeros(gpu, "samples", capacity * dim)?;
        // The time grid is a constant: uploading it once costs less than a kernel per step.
        let grid: Vec<f32> = (0..steps).flat_map(|k| std::iter::repeat_n(k as f32 / steps as f32, capacity)).collect();
        let times = GpuBuffer::from_slice(gpu, "euler times", &grid)?;
        let noise = RngFill::new(gpu, &x, Distribution::STANDARD_NORMAL)?;
        let pass = VelocityPass::new(gpu, net, &x, &times, cond, capacity, repeat, false)?;
        let euler = EulerStep::new(gpu, pass.output(), &x)?;
        Ok(Self { capacity, steps, x, _times: times, noise, pass, euler, dim })
    }

    /// Records sampling of `rows` samples (the first `rows` rows of `x`), drawing the
    /// starting noise from `rng`; with `clip`, the result is clipped to `[low, high]`.
    /// Conditioning rows are read from `cond_row` on (one per `repeat` samples).
    pub fn record(
        &self,
        rec: &mut Recorder,
        net: &VelocityNet,
        rows: usize,
        cond_row: usize,
        rng: &mut RngStream,
        clip: Option<(f32, f32)>,
    ) {
        assert!(rows <= self.capacity, "{rows} samples from a sampler built for {}", self.capacity);
        let count = rows * self.dim;
        self.noise.record(rec, rng, 0, count);
        let dt = 1.0 / self.steps as f32;
        for k in 0..self.steps {
            let offsets =
                EmbeddingOffsets { t: k * self.capacity, cond: cond_row * net.spec.cond_dim, ..Default::default() };
            self.pass.record_forward(rec, net, rows, offsets);
            let last = k + 1 == self.steps;
            self.euler.record(rec, count, dt, if last { clip } else { None });
        }
    }
}
