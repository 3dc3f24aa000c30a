//! CPU twins of the flow-matching kernels: energy weights (shaders/energy_weights.wgsl) and
//! the Euler step (shaders/euler_step.wgsl).

/// `scale · softmax(coef · values)` over consecutive groups of `group_size` values.
pub fn energy_weights(values: &[f32], group_size: usize, coef: f32, scale: f32) -> Vec<f32> {
    let mut weights = vec![0.0f32; values.len()];
    for (group, out) in values.chunks(group_size).zip(weights.chunks_mut(group_size)) {
        let top = group.iter().map(|&v| coef * v).fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = group.iter().map(|&v| (coef * v - top).exp()).collect();
        let total: f32 = exps.iter().sum();
        for (o, e) in out.iter_mut().zip(&exps) {
            *o = e * (scale / total);
        }
    }
    weights
}

/// `x ← x + dt·v`, then clipped to `clip` when given.
pub fn euler_step(x: &mut [f32], v: &[f32], dt: f32, clip: Option<(f32, f32)>) {
    for (xi, &vi) in x.iter_mut().zip(v) {
        let next = *xi + dt * vi;
        *xi = match clip {
            Some((lo, hi)) => next.clamp(lo, hi),
            None => next,
        };
    }
}
