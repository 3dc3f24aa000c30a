//! Euler sampling of a few samples in one dispatch (`shaders/sample_rows.wgsl`), for
//! evaluation: one action for each of a handful of states, where the batched
//! [`EulerSampler`]'s dispatches per Euler step would cost more in launch latency than in
//! arithmetic. Both compute the same samples from the same draws.

use anyhow::{ensure, Result};

use super::sampler::EulerSampler;
use super::velocity::{Network, VelocityNet};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::sample_rows::{SampleRows, SampleRowsParams, MAX_DIM, MAX_WIDTH};
use crate::random::RngStream;

/// The one-dispatch sampler of one network, for up to `capacity` samples per call. It samples
/// with a snapshot of the network's parameters taken when it is built (each weight matrix
/// transposed, as the kernel reads it), so build it after training, for an evaluation.
pub struct RowSampler {
    pub capacity: usize,
    pub steps: usize,
    /// Where the samples are, rows×dim; valid after a recorded call.
    pub x: GpuBuffer,
    /// Bound to the snapshot of the parameters and the layer table (in, out, weight offset,
    /// bias offset), which its bind group keeps alive.
    kernel: SampleRows,
    layers: usize,
}

impl RowSampler {
    /// Whether `net` fits the kernel: an MLP (the kernel runs a plain stack of layers, not
    /// the residual network's concatenations), one copy, every layer at most [`MAX_WIDTH`]
    /// wide and at most [`MAX_DIM`] coordinates.
    pub fn fits(net: &VelocityNet) -> bool {
        let Network::Mlp(mlp) = &net.net else { return false };
        let mlp = &mlp.spec;
        let widths = std::iter::once(mlp.input).chain(mlp.hidden.iter().copied());
        net.copies() == 1 && net.spec.dim <= MAX_DIM && widths.into_iter().all(|w| w <= MAX_WIDTH)
    }

    /// `cond` holds one conditioning row per sample.
    pub fn new(gpu: &Gpu, net: &VelocityNet, cond: &GpuBuffer, capacity: usize, steps: usize) -> Result<Self> {
        ensure!(steps > 0, "the Euler sampler needs at least one step");
        ensure!(Self::fits(net), "the velocity network is too wide for the one-dispatch sampler");
        let Network::Mlp(mlp) = &net.net else { unreachable!("fits() takes MLPs only") };
        let shapes: Vec<u32> =
            mlp.layers.iter().flat_map(|l| [l.in_dim, l.out_dim, l.weight_off, l.bias_off].map(|v| v as u32)).collect();
        let shapes = GpuBuffer::from_slice(gpu, "layer table", &shapes)?;
        let mut params: Vec<f32> = mlp.params.read(gpu)?;
        for layer in &mlp.layers {
            let w = &mut params[layer.weight_off..layer.bias_off];
            let transposed: Vec<f32> = (0..layer.in_dim)
                .flat_map(|i| (0..layer.out_dim).map(move |o| (i, o)))
                .map(|(i, o)| w[o * layer.in_dim + i])
                .collect();
            w.copy_from_slice(&transposed);
        }
        let params = GpuBuffer::from_slice(gpu, "sampler parameters", &params)?;
        let x = GpuBuffer::zeros(gpu, "samples", capacity.max(1) * net.spec.dim)?;
        let kernel = SampleRows::new(gpu, &params, &shapes, &net.frequencies, cond, &x)?;
        Ok(Self { capacity, steps, x, kernel, layers: mlp.layers.len() })
    }

    /// Records sampling of `rows` samples from the first `rows` conditioning rows, drawing the
    /// starting noise from `rng`; with `clip`, the result is clipped to `[low, high]`.
    pub fn record(
        &self,
        rec: &mut Recorder,
        net: &VelocityNet,
        rows: usize,
        rng: &mut RngStream,
        clip: Option<(f32, f32)>,
    ) {
        assert!(rows <= self.capacity, "{rows} samples from a sampler built for {}", self.capacity);
        let (low, high) = clip.unwrap_or((0.0, 0.0));
        let params = SampleRowsParams {
            draw: rng.next_draw(),
            rows: rows as u32,
            dim: net.spec.dim as u32,
            cond_dim: net.spec.cond_dim as u32,
            frequencies: (net.spec.time_features / 2) as u32,
            layers: self.layers as u32,
            steps: self.steps as u32,
            act: net.spec.activation.code(),
            clip: clip.is_some() as u32,
            low,
            high,
        };
        self.kernel.record(rec, params);
    }
}

/// The environment variable that picks evaluation's sampler: `rows` (one dispatch, where the
/// network fits), `batched`, or `auto`.
pub const SAMPLER_VAR: &str = "QIPO_SAMPLER";

/// The sampler for one action per state: [`RowSampler`] or the batched [`EulerSampler`].
/// Both draw the same samples.
pub enum ActionSampler {
    Rows(Box<RowSampler>),
    Batched(Box<EulerSampler>),
}

impl ActionSampler {
    /// For up to `capacity` states per call, read from `states` (capacity×cond_dim). `auto`
    /// takes the one-dispatch sampler on GPUs, where a few rows cost less than the batched
    /// sampler's launches, and the batched one on CPU drivers, which run its products
    /// faster; `QIPO_SAMPLER` overrides the choice.
    pub fn new(gpu: &Gpu, net: &VelocityNet, states: &GpuBuffer, capacity: usize, steps: usize) -> Result<Self> {
        Self::with_choice(gpu, net, states, capacity, steps, Self::prefers_rows(gpu)?)
    }

    /// Whether [`Self::new`] takes the one-dispatch sampler where a network fits it.
    pub fn prefers_rows(gpu: &Gpu) -> Result<bool> {
        let choice = std::env::var(SAMPLER_VAR).unwrap_or_else(|_| "auto".into());
        Ok(match choice.as_str() {
            "rows" => true,
            "batched" => false,
            "auto" => gpu.info.device_type != wgpu::DeviceType::Cpu,
            other => anyhow::bail!("{SAMPLER_VAR}: unknown sampler '{other}' (auto, rows or batched)"),
        })
    }

    /// [`Self::new`] with the one-dispatch sampler wherever the network fits it (`rows`), or
    /// never.
    pub fn with_choice(
        gpu: &Gpu,
        net: &VelocityNet,
        states: &GpuBuffer,
        capacity: usize,
        steps: usize,
        rows: bool,
    ) -> Result<Self> {
        Ok(if rows && RowSampler::fits(net) {
            Self::Rows(Box::new(RowSampler::new(gpu, net, states, capacity, steps)?))
        } else {
            Self::Batched(Box::new(EulerSampler::new(gpu, net, states, capacity, 1, steps)?))
        })
    }

    pub fn capacity(&self) -> usize {
        match self {
            Self::Rows(s) => s.capacity,
            Self::Batched(s) => s.capacity,
        }
    }

    /// Where the samples are after a call, rows×dim.
    pub fn samples(&self) -> &GpuBuffer {
        match self {
            Self::Rows(s) => &s.x,
            Self::Batched(s) => &s.x,
        }
    }

    /// Records one action for each of the first `rows` states.
    pub fn record(
        &self,
        rec: &mut Recorder,
        net: &VelocityNet,
        rows: usize,
        rng: &mut RngStream,
        clip: Option<(f32, f32)>,
    ) {
        match self {
            Self::Rows(s) => s.record(rec, net, rows, rng, clip),
            Self::Batched(s) => s.record(rec, net, rows, 0, rng, clip),
        }
    }
}
