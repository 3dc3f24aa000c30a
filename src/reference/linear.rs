//! CPU twin of shaders/linear_forward.wgsl and shaders/linear_backward.wgsl.
//!
//! X is rows×in, W is out×in (PyTorch's layout), b is out; all row-major.

use super::activation::{activate, activate_grad};
use crate::nn::activation::Activation;

/// One call of a linear layer: `rows` rows of `in_dim` inputs to `out_dim` outputs, then `act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub act: Activation,
}

/// Returns (Z, Y) with Z = X·Wᵀ + b and Y = act(Z), both rows×out.
pub fn forward(x: &[f32], w: &[f32], b: &[f32], shape: Dense) -> (Vec<f32>, Vec<f32>) {
    let Dense { rows, in_dim, out_dim, act } = shape;
    assert_eq!(x.len(), rows * in_dim);
    assert_eq!(w.len(), out_dim * in_dim);
    assert_eq!(b.len(), out_dim);
    let mut z = vec![0.0f32; rows * out_dim];
    for r in 0..rows {
        for o in 0..out_dim {
            let mut sum = 0.0f32;
            for i in 0..in_dim {
                sum += x[r * in_dim + i] * w[o * in_dim + i];
            }
            z[r * out_dim + o] = sum + b[o];
        }
    }
    let y = z.iter().map(|&v| activate(v, act)).collect();
    (z, y)
}

/// The gradients of a linear layer.
pub struct LinearGrads {
    /// rows×in
    pub dx: Vec<f32>,
    /// out×in
    pub dw: Vec<f32>,
    /// out
    pub db: Vec<f32>,
}

/// Backward pass given the layer's input X, its weight W, its pre-activation Z and the
/// gradient dY of the loss with respect to its output.
pub fn backward(x: &[f32], w: &[f32], z: &[f32], dy: &[f32], shape: Dense) -> LinearGrads {
    let Dense { rows, in_dim, out_dim, act } = shape;
    assert_eq!(z.len(), rows * out_dim);
    assert_eq!(dy.len(), rows * out_dim);
    let dz: Vec<f32> = dy.iter().zip(z).map(|(&g, &v)| g * activate_grad(v, act)).collect();
    let mut dx = vec![0.0f32; rows * in_dim];
    let mut dw = vec![0.0f32; out_dim * in_dim];
    let mut db = vec![0.0f32; out_dim];
    for r in 0..rows {
        for o in 0..out_dim {
            let g = dz[r * out_dim + o];
            db[o] += g;
            for i in 0..in_dim {
                dx[r * in_dim + i] += g * w[o * in_dim + i];
                dw[o * in_dim + i] += g * x[r * in_dim + i];
            }
        }
    }
    LinearGrads { dx, dw, db }
}

/// [`forward`] of `copies` layers of one shape stored back to back: X is copies×rows×in (or
/// one rows×in shared by all when `shared_input`), W copies×out×in, b copies×out. Z and Y
/// come back as copies×rows×out.
pub fn forward_copies(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    copies: usize,
    shared_input: bool,
    shape: Dense,
) -> (Vec<f32>, Vec<f32>) {
    let Dense { rows, in_dim, out_dim, .. } = shape;
    let (mut z, mut y) = (Vec::new(), Vec::new());
    for s in 0..copies {
        let xs = if shared_input { x } else { &x[s * rows * in_dim..][..rows * in_dim] };
        let ws = &w[s * out_dim * in_dim..][..out_dim * in_dim];
        let (zs, ys) = forward(xs, ws, &b[s * out_dim..][..out_dim], shape);
        z.extend(zs);
        y.extend(ys);
    }
    (z, y)
}

/// [`backward`] of `copies` layers of one shape stored back to back (as in
/// [`forward_copies`], without a shared input); the gradients are stacked the same way.
pub fn backward_copies(x: &[f32], w: &[f32], z: &[f32], dy: &[f32], copies: usize, shape: Dense) -> LinearGrads {
    let Dense { rows, in_dim, out_dim, .. } = shape;
    let mut all = LinearGrads { dx: Vec::new(), dw: Vec::new(), db: Vec::new() };
    for s in 0..copies {
        let inputs = |v: &[f32]| v[s * rows * in_dim..][..rows * in_dim].to_vec();
        let outputs = |v: &[f32]| v[s * rows * out_dim..][..rows * out_dim].to_vec();
        let ws = &w[s * out_dim * in_dim..][..out_dim * in_dim];
        let g = backward(&inputs(x), ws, &outputs(z), &outputs(dy), shape);
        all.dx.extend(g.dx);
        all.dw.extend(g.dw);
        all.db.extend(g.db);
    }
    all
}
