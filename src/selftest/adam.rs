//! Adam and AdamW (`shaders/adam.wgsl`) against their CPU twin, alone and with a Polyak
//! target following the parameters.

use anyhow::Result;

use super::{bits, values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::{Adam, ADAM_POLYAK_STEP, ADAM_STEP, STATS_GRAD_NORM_SQ};
use crate::kernels::reduce::REDUCE_RANGE;
use crate::ops::AdamConfig;
use crate::reference::adam::{step_copies_with_lrs, AdamState};
use crate::reference::critic::polyak;

/// `steps` steps on `copies` networks of `len / copies` parameters in [-1, 1), with fresh
/// gradients each step, of growing size so the moments mix steps.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub len: usize,
    pub copies: usize,
    pub config: AdamConfig,
    pub steps: u64,
    /// Also runs a second optimiser on a copy of the parameters whose target network follows
    /// them by Polyak averaging with this τ, as the critic's does.
    pub tau: Option<f32>,
    /// Gives copy c the learning rate (c + 1)·lr of its own, as a sweep's grid does.
    pub per_copy_lr: bool,
    pub seed: u64,
    /// Relative to 1 + |cpu|.
    pub tolerance: f32,
}

/// Compares the parameters and moments after the last step, each step's squared gradient
/// norms where the config clips, the step count, and (with τ) the followed parameters and
/// the target, which at τ = 1 must be an exact copy of them.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { len, copies, config, steps, tau, per_copy_lr, seed, tolerance } = *case;
    let lrs: Vec<f64> = (0..copies).map(|c| if per_copy_lr { (c + 1) as f64 * config.lr } else { config.lr }).collect();
    let mut params_ref = values(seed, len, 1.0);
    let mut target_ref = values(seed + 1, len, 1.0);
    let mut state = AdamState::new(len);
    let params = GpuBuffer::from_slice(gpu, "params", &params_ref)?;
    let grads = GpuBuffer::zeros(gpu, "grads", len)?;
    let mut adam = Adam::for_copies(gpu, &params, &grads, config, copies)?;
    let followed = GpuBuffer::from_slice(gpu, "followed params", &params_ref)?;
    let target = GpuBuffer::from_slice(gpu, "target", &target_ref)?;
    let mut with_target = match tau {
        Some(tau) => {
            Some(Adam::for_copies(gpu, &followed, &grads, config, copies)?.with_polyak_target(gpu, &target, tau)?)
        }
        None => None,
    };
    if per_copy_lr {
        adam.set_copy_lrs(gpu, &lrs)?;
        if let Some(with_target) = &mut with_target {
            with_target.set_copy_lrs(gpu, &lrs)?;
        }
    }
    let mut kernels = vec![ADAM_STEP];
    if tau.is_some() {
        kernels.push(ADAM_POLYAK_STEP);
    }
    if config.clips() {
        // The gradient norm is a reduction.
        kernels.push(REDUCE_RANGE);
    }
    let kind = if config.weight_decay > 0.0 { "AdamW" } else { "Adam" };
    let clipped = if config.clips() { ", clipped" } else { "" };
    let polyak_target = if tau.is_some() { ", alone and with a Polyak target" } else { "" };
    let own_lrs = if per_copy_lr { ", each copy at its own learning rate" } else { "" };
    let name = format!("{kind}, {steps} steps{clipped}{own_lrs}{polyak_target}");
    let (mut norms, mut norms_ref) = (Vec::new(), Vec::new());
    for step in 0..steps {
        let g = values(seed + 2 + step, len, 0.5 + step as f32);
        grads.write(gpu, 0, &g);
        let mut rec = Recorder::new(gpu);
        adam.record_step(&mut rec);
        if let Some(with_target) = &mut with_target {
            with_target.record_step(&mut rec);
        }
        rec.submit_and_wait()?;
        step_copies_with_lrs(&mut params_ref, &g, &mut state, &config, &lrs);
        if let Some(tau) = tau {
            polyak(&mut target_ref, &params_ref, tau);
        }
        if config.clips() {
            norms.extend(adam.stats().read_range::<f32>(gpu, STATS_GRAD_NORM_SQ, copies)?);
            let squares = g.chunks(len / copies).map(|g| g.iter().map(|&x| x as f64 * x as f64).sum::<f64>() as f32);
            norms_ref.extend(squares);
        }
    }
    let (m, v) = adam.moments();
    let mut got = [params.read::<f32>(gpu)?, m.read(gpu)?, v.read(gpu)?, norms].concat();
    let mut want = [params_ref.clone(), state.m, state.v, norms_ref].concat();
    let mut parts = vec![Check::exact(&name, &kernels, &[adam.step() as u32], &[steps as u32])];
    if tau.is_some() {
        let (followed, target) = (followed.read::<f32>(gpu)?, target.read::<f32>(gpu)?);
        if tau == Some(1.0) {
            // Copying the online network is exact.
            parts.push(Check::exact(&name, &kernels, &bits(&target), &bits(&followed)));
        }
        got.extend([followed, target].concat());
        want.extend([params_ref, target_ref].concat());
    }
    parts.push(Check::close(&name, &kernels, &got, &want, tolerance));
    Ok(Check::all(&name, &kernels, &parts))
}
