//! Adam and AdamW over one flat parameter buffer (one network, or copies of one network each
//! clipped by its own norm), with global-norm gradient clipping:
//! `shaders/adam.wgsl`, plus the sum-of-squares reduction of `shaders/reduce.wgsl` for the
//! gradient norm.
//!
//! One training step records at most two dispatches: the squared gradient norm into a small
//! stats buffer (only when clipping), then the update of every parameter, which can also move a
//! target network towards the new parameters (Polyak averaging, [`Adam::with_polyak_target`]).
//! The step counter and the bias corrections live on the host, so nothing is read back.

use anyhow::{bail, Result};

use super::reduce::Reduce;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::ops::{AdamConfig, ReduceOp};

const SRC: Source = ("adam.wgsl", include_str!("../../shaders/adam.wgsl"));

use Access::{Read, ReadWrite};

/// Bindings: parameters, gradients, first moments m, second moments v, stats, each copy's
/// learning rate.
pub const ADAM_STEP: Kernel =
    Kernel { sources: &[SRC], entry: "adam_step", bindings: &[ReadWrite, Read, ReadWrite, ReadWrite, Read, Read] };

/// [`ADAM_STEP`], then `target ← tau·θ + (1 - tau)·target` for every updated θ. Bindings: those
/// of [`ADAM_STEP`], then the target parameters.
pub const ADAM_POLYAK_STEP: Kernel = Kernel {
    entry: "adam_polyak_step",
    bindings: &[ReadWrite, Read, ReadWrite, ReadWrite, Read, Read, ReadWrite],
    ..ADAM_STEP
};

pub const KERNELS: [Kernel; 2] = [ADAM_STEP, ADAM_POLYAK_STEP];

// The GPU side of the optimiser's settings: what its kernel is told each step.
impl AdamConfig {
    /// The immediates of step `step` (counting from 1): the bias corrections computed in f64
    /// and rounded once; the learning rate and weight decay rounded to f32, as the kernel
    /// multiplies them.
    pub fn step_params(&self, step: u64, offset: usize, count: usize, stats_off: usize) -> AdamParams {
        let t = step.max(1) as f64;
        AdamParams {
            offset: u(offset),
            count: u(count),
            stats_off: u(stats_off),
            beta1: self.beta1 as f32,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            beta2: self.beta2 as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            eps: self.eps as f32,
            correction1: (1.0 / (1.0 - self.beta1.powf(t))) as f32,
            inv_sqrt_correction2: (1.0 / (1.0 - self.beta2.powf(t)).sqrt()) as f32,
            weight_decay: self.weight_decay as f32,
            max_norm: if self.clips() { self.max_grad_norm as f32 } else { 0.0 },
            segment: 0,
            tau: 0.0,
            lr: self.lr as f32,
            per_copy_lr: 0,
        }
    }
}

/// The immediates of the update kernel (`struct AdamStep` in shaders/adam.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    pub offset: u32,
    pub count: u32,
    pub stats_off: u32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    /// 1 / (1 - β1^t): the step size is lr times this.
    pub correction1: f32,
    pub inv_sqrt_correction2: f32,
    pub weight_decay: f32,
    pub max_norm: f32,
    /// Parameters per copy when the buffer holds copies of one network; 0 for one network.
    pub segment: u32,
    /// With a Polyak target: the fraction of the new parameters mixed into it.
    pub tau: f32,
    /// The learning rate of every copy, unless `per_copy_lr` is 1 (then each copy's is in the
    /// learning-rate buffer).
    pub lr: f32,
    pub per_copy_lr: u32,
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// Where the squared gradient norm goes in the stats buffer (copy c's at this plus c).
pub const STATS_GRAD_NORM_SQ: usize = 0;

/// An Adam(W) optimiser bound to one network's flat parameter and gradient buffers, with its
/// moment buffers and step counter.
pub struct Adam {
    config: AdamConfig,
    step: u64,
    len: usize,
    /// Copies of one network in the buffers, each clipped by its own gradient norm.
    copies: usize,
    m: GpuBuffer,
    v: GpuBuffer,
    stats: GpuBuffer,
    /// Each copy's learning rate, once [`Self::set_copy_lrs`] has set them; until then every
    /// copy takes the config's.
    lrs: GpuBuffer,
    per_copy_lr: bool,
    /// The parameter and gradient buffers the optimiser is bound to.
    params: GpuBuffer,
    grads: GpuBuffer,
    update: Bound,
    /// The update followed by the Polyak step of a target network, and its tau.
    polyak: Option<(Bound, f32)>,
    grad_norm: Reduce,
}

impl Adam {
    /// Zero moments and step 0. `params` and `grads` must have the same length.
    pub fn new(gpu: &Gpu, params: &GpuBuffer, grads: &GpuBuffer, config: AdamConfig) -> Result<Self> {
        Self::for_copies(gpu, params, grads, config, 1)
    }

    /// One optimiser for `copies` networks of one shape stored back to back: the same update
    /// in one dispatch, with each copy's gradient clipped by its own norm, as if each had its
    /// own optimiser.
    pub fn for_copies(
        gpu: &Gpu,
        params: &GpuBuffer,
        grads: &GpuBuffer,
        config: AdamConfig,
        copies: usize,
    ) -> Result<Self> {
        config.validate()?;
        if copies == 0 || !params.len.is_multiple_of(copies) {
            bail!("Adam: '{}' holds {} parameters, not {copies} equal copies", params.label, params.len);
        }
        if params.len != grads.len {
            bail!(
                "Adam: parameters '{}' have {} elements but gradients '{}' have {}",
                params.label,
                params.len,
                grads.label,
                grads.len
            );
        }
        let len = params.len;
        let m = GpuBuffer::zeros(gpu, &format!("{} adam m", params.label), len)?;
        let v = GpuBuffer::zeros(gpu, &format!("{} adam v", params.label), len)?;
        let stats = GpuBuffer::zeros(gpu, &format!("{} adam stats", params.label), STATS_GRAD_NORM_SQ + copies)?;
        let lrs = GpuBuffer::from_slice(gpu, &format!("{} adam lrs", params.label), &vec![config.lr as f32; copies])?;
        let update = Bound::new(gpu, &ADAM_STEP, &[params, grads, &m, &v, &stats, &lrs])?;
        let grad_norm = Reduce::new(gpu, grads, &stats)?;
        Ok(Self {
            config,
            step: 0,
            len,
            copies,
            m,
            v,
            stats,
            lrs,
            per_copy_lr: false,
            params: params.clone(),
            grads: grads.clone(),
            update,
            polyak: None,
            grad_norm,
        })
    }

    /// From now on every step also moves `target` (laid out like the parameters, another
    /// buffer) towards the updated parameters: `target ← tau·θ + (1 - tau)·target`, in the
    /// update's dispatch.
    pub fn with_polyak_target(mut self, gpu: &Gpu, target: &GpuBuffer, tau: f32) -> Result<Self> {
        self.set_polyak_target(gpu, target, tau)?;
        Ok(self)
    }

    /// [`Self::with_polyak_target`] on an optimiser already in place (an exponential moving
    /// average of a network's weights is the same step, with tau = 1 - decay).
    pub fn set_polyak_target(&mut self, gpu: &Gpu, target: &GpuBuffer, tau: f32) -> Result<()> {
        let (params, grads) = (&self.params, &self.grads);
        if target.len != params.len || target.buffer == params.buffer {
            bail!("Polyak target '{}' must be another buffer of {} parameters", target.label, params.len);
        }
        let bound =
            Bound::new(gpu, &ADAM_POLYAK_STEP, &[params, grads, &self.m, &self.v, &self.stats, &self.lrs, target])?;
        self.polyak = Some((bound, tau));
        Ok(())
    }

    /// Records one optimiser step over every parameter (the gradient norm first, when
    /// clipping) and advances the step counter.
    pub fn record_step(&mut self, rec: &mut Recorder) {
        self.step += 1;
        if self.len == 0 {
            return;
        }
        let segment = self.len / self.copies;
        if self.config.clips() {
            // One squared norm per copy.
            self.grad_norm.record_blocks(rec, ReduceOp::SumOfSquares, 0, self.copies, segment, STATS_GRAD_NORM_SQ);
        }
        let mut params = self.config.step_params(self.step, 0, self.len, STATS_GRAD_NORM_SQ);
        if self.copies > 1 {
            params.segment = segment as u32;
        }
        params.per_copy_lr = self.per_copy_lr as u32;
        match &self.polyak {
            Some((bound, tau)) => bound.record_1d(rec, &AdamParams { tau: *tau, ..params }, self.len),
            None => self.update.record_1d(rec, &params, self.len),
        }
    }

    /// Steps taken so far (the bias corrections of the next step use `step() + 1`).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Sets the step counter, e.g. when resuming from a checkpoint along with the moments.
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Changes the learning rate from the next step on (for schedules).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        if self.per_copy_lr {
            bail!("Adam '{}': the copies have their own learning rates; set them with set_copy_lrs", self.params.label);
        }
        let config = AdamConfig { lr, ..self.config };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Gives copy c the learning rate `lrs[c]` from the next step on, in place of the
    /// config's: copies trained with different rates in one dispatch, each stepping exactly
    /// as an optimiser of its own with its rate.
    pub fn set_copy_lrs(&mut self, gpu: &Gpu, lrs: &[f64]) -> Result<()> {
        if lrs.len() != self.copies {
            bail!("Adam '{}': {} learning rates for {} copies", self.params.label, lrs.len(), self.copies);
        }
        for &lr in lrs {
            AdamConfig { lr, ..self.config }.validate()?;
        }
        let rates: Vec<f32> = lrs.iter().map(|&lr| lr as f32).collect();
        self.lrs.write(gpu, 0, &rates);
        self.per_copy_lr = true;
        Ok(())
    }

    /// The first and second moment buffers (to checkpoint or restore them).
    pub fn moments(&self) -> (&GpuBuffer, &GpuBuffer) {
        (&self.m, &self.v)
    }

    /// Element [`STATS_GRAD_NORM_SQ`] holds the squared global gradient norm of the last step,
    /// written only when clipping is enabled.
    pub fn stats(&self) -> &GpuBuffer {
        &self.stats
    }
}
