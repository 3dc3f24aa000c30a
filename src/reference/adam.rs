//! CPU twin of shaders/adam.wgsl: one Adam(W) step with optional global-norm clipping.

use crate::ops::AdamConfig;

/// The optimiser's state: moments and the number of steps taken.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    pub step: u64,
}

impl AdamState {
    pub fn new(len: usize) -> Self {
        Self { m: vec![0.0; len], v: vec![0.0; len], step: 0 }
    }
}

/// The factor gradients are scaled by: min(1, max_norm / (‖g‖ + 1e-6)), or 1 without clipping.
/// The squared norm is summed in f64, then rounded to f32 as the GPU stores it.
pub fn clip_scale(grads: &[f32], max_norm: f64) -> f32 {
    if max_norm <= 0.0 {
        return 1.0;
    }
    let norm_sq = grads.iter().map(|&g| g as f64 * g as f64).sum::<f64>() as f32;
    (max_norm as f32 / (norm_sq.sqrt() + 1e-6)).min(1.0)
}

/// One step: the moments and parameters are updated in place and the step count advances.
pub fn step(params: &mut [f32], grads: &[f32], state: &mut AdamState, config: &AdamConfig) {
    step_copies(params, grads, state, config, 1);
}

/// One step over `copies` networks of one shape stored back to back, each clipped by its own
/// gradient norm (the GPU's single optimiser for copies).
pub fn step_copies(params: &mut [f32], grads: &[f32], state: &mut AdamState, config: &AdamConfig, copies: usize) {
    step_copies_with_lrs(params, grads, state, config, &vec![config.lr; copies]);
}

/// [`step_copies`] with copy c stepping at learning rate `lrs[c]` in place of the config's.
pub fn step_copies_with_lrs(
    params: &mut [f32],
    grads: &[f32],
    state: &mut AdamState,
    config: &AdamConfig,
    lrs: &[f64],
) {
    let copies = lrs.len();
    assert_eq!(params.len(), grads.len());
    assert_eq!(params.len(), state.m.len());
    assert!(copies > 0 && params.len().is_multiple_of(copies), "{} parameters are not {copies} copies", params.len());
    let segment = (params.len() / copies).max(1);
    state.step += 1;
    // The bias corrections in f64, rounded once to f32 like the kernel's immediates; the
    // learning rate and decay in f32, as the kernel multiplies them.
    let t = state.step as f64;
    let beta1 = config.beta1 as f32;
    let beta2 = config.beta2 as f32;
    let one_minus_beta1 = (1.0 - config.beta1) as f32;
    let one_minus_beta2 = (1.0 - config.beta2) as f32;
    let correction1 = (1.0 / (1.0 - config.beta1.powf(t))) as f32;
    let inv_sqrt_correction2 = (1.0 / (1.0 - config.beta2.powf(t)).sqrt()) as f32;
    let weight_decay = config.weight_decay as f32;
    let eps = config.eps as f32;

    let clips: Vec<f32> = grads.chunks(segment).map(|copy| clip_scale(copy, config.max_grad_norm)).collect();
    for i in 0..params.len() {
        let copy = i / segment;
        let lr = lrs[copy] as f32;
        let (step_size, decay) = (lr * correction1, 1.0 - lr * weight_decay);
        let g = grads[i] * clips[copy];
        let m = beta1 * state.m[i] + one_minus_beta1 * g;
        let v = beta2 * state.v[i] + one_minus_beta2 * (g * g);
        state.m[i] = m;
        state.v[i] = v;
        let denom = v.sqrt() * inv_sqrt_correction2 + eps;
        params[i] = params[i] * decay - step_size * (m / denom);
    }
}
