//! CPU twin of shaders/time_embedding.wgsl: Gaussian Fourier features of t concatenated with
//! the network's other inputs.

/// sin or cos of 2π·t·w, through the same reduction to [-1/2, 1/2] turns as the kernel.
pub fn fourier_feature(time: f32, frequency: f32, use_sin: bool) -> f32 {
    let turns = time * frequency;
    let angle = std::f32::consts::TAU * (turns - turns.round_ties_even());
    if use_sin {
        angle.sin()
    } else {
        angle.cos()
    }
}

/// Rows of [x[row], sin(2π t[row] w), cos(2π t[row] w), cond[row / repeat]], each
/// `x_dim + 2·w.len() + cond_dim` wide, one per time in `t`. `x` is rows×x_dim and `cond` has
/// one row per `repeat` rows (a repeat of 0 is read as 1, as in the kernel).
pub fn embed(x: &[f32], t: &[f32], w: &[f32], cond: &[f32], x_dim: usize, cond_dim: usize, repeat: usize) -> Vec<f32> {
    let rows = t.len();
    let repeat = repeat.max(1);
    assert_eq!(x.len(), rows * x_dim);
    assert_eq!(cond.len(), rows.div_ceil(repeat) * cond_dim);
    let mut out = Vec::with_capacity(rows * (x_dim + 2 * w.len() + cond_dim));
    for row in 0..rows {
        out.extend_from_slice(&x[row * x_dim..(row + 1) * x_dim]);
        out.extend(w.iter().map(|&f| fourier_feature(t[row], f, true)));
        out.extend(w.iter().map(|&f| fourier_feature(t[row], f, false)));
        let c = row / repeat;
        out.extend_from_slice(&cond[c * cond_dim..(c + 1) * cond_dim]);
    }
    out
}
