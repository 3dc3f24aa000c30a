//! Batched Euler sampling of a flow: x0 ~ N(0, I), then N steps of x ← x + v(x, t_k)/N on the
//! uniform grid t_k = k/N, for every sample at once, recorded into one submit.
//!
//! A network of copies (seeds) samples with all of them at once from the same conditioning
//! rows: copy c's samples follow copy c - 1's, each copy drawing its starting noise as a run
//! with its own seed would.

use anyhow::Result;

use super::velocity::{Purpose, VelocityInputs, VelocityNet, VelocityPass};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::euler::EulerStep;
use crate::kernels::rng::{Distribution, RngFill};
use crate::kernels::time_embedding::EmbeddingOffsets;
use crate::random::{RngDraw, RngStream};

/// The sampler of one network (or copies of one), for up to `capacity` samples per copy and
/// call.
pub struct EulerSampler {
    pub capacity: usize,
    pub steps: usize,
    /// Where the samples are; after a call over `rows` rows, copy c's rows×dim samples start
    /// at `c × rows × dim`.
    pub x: GpuBuffer,
    noise: RngFill,
    pass: VelocityPass,
    euler: EulerStep,
    dim: usize,
    copies: usize,
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
        let (dim, copies) = (net.spec.dim, net.copies());
        let x = GpuBuffer::zeros(gpu, "samples", copies * capacity * dim)?;
        // The time grid is a constant: uploading it once costs less than a kernel per step.
        let per_step = copies * capacity;
        let grid: Vec<f32> = (0..steps).flat_map(|k| std::iter::repeat_n(k as f32 / steps as f32, per_step)).collect();
        let times = GpuBuffer::from_slice(gpu, "euler times", &grid)?;
        let noise = RngFill::new(gpu, &x, Distribution::STANDARD_NORMAL)?.with_copies_per_seed(net.copies_per_seed);
        let inputs = VelocityInputs { x: &x, t: &times, cond, repeat };
        let pass = VelocityPass::new(gpu, net, inputs, capacity, Purpose::Sampling)?;
        let euler = EulerStep::new(gpu, pass.output(), &x)?;
        Ok(Self { capacity, steps, x, noise, pass, euler, dim, copies })
    }

    /// Records sampling of `rows` samples per copy (the first `rows` rows of `x` per copy), drawing the
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
        self.record_part(rec, net, rows, cond_row, rng.next_draw(), 0, clip);
    }

    /// [`Self::record`] as part of a larger draw: the samples' starting noise is elements
    /// `first_sample × dim` on of `draw` (per copy), so sampling a table chunk by chunk gives
    /// the same samples whatever the chunks.
    #[allow(clippy::too_many_arguments)]
    pub fn record_part(
        &self,
        rec: &mut Recorder,
        net: &VelocityNet,
        rows: usize,
        cond_row: usize,
        draw: RngDraw,
        first_sample: usize,
        clip: Option<(f32, f32)>,
    ) {
        assert!(rows <= self.capacity, "{rows} samples from a sampler built for {}", self.capacity);
        let count = self.copies * rows * self.dim;
        self.noise.record_part(rec, draw, 0, self.copies, rows * self.dim, first_sample * self.dim);
        let dt = 1.0 / self.steps as f32;
        for k in 0..self.steps {
            let t = k * self.copies * self.capacity;
            let offsets = EmbeddingOffsets { t, cond: cond_row * net.spec.cond_dim, ..Default::default() };
            self.pass.record_forward(rec, net, rows, offsets);
            let last = k + 1 == self.steps;
            self.euler.record(rec, count, dt, if last { clip } else { None });
        }
    }
}
