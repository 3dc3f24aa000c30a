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

/// Flow-matching pairs, as shaders/flow_pairs.wgsl draws them: returns (x_t, t, target).
pub fn flow_pairs(
    x1: &[f32],
    rows: usize,
    dim: usize,
    noise: crate::random::RngDraw,
    time: crate::random::RngDraw,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let t: Vec<f32> = (0..rows).map(|row| super::rng::uniform(time, row as u32)).collect();
    let mut x_t = vec![0.0f32; rows * dim];
    let mut target = vec![0.0f32; rows * dim];
    for (row, &tr) in t.iter().enumerate() {
        for j in 0..dim {
            let i = row * dim + j;
            let x0 = super::rng::normal(noise, i as u32);
            x_t[i] = (1.0 - tr) * x0 + tr * x1[i];
            target[i] = x1[i] - x0;
        }
    }
    (x_t, t, target)
}
