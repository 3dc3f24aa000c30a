//! CPU twin of an MLP's forward and backward passes, built from the linear layer twin.

use super::linear::{self, Dense};
use crate::nn::mlp_spec::MlpSpec;

/// Every layer's (pre-activation, output) from a forward pass.
pub type Activations = Vec<(Vec<f32>, Vec<f32>)>;

/// Forward pass over `rows` rows of `x`; the last entry's output is the network's output.
pub fn forward(spec: &MlpSpec, params: &[f32], x: &[f32], rows: usize) -> Activations {
    let mut acts: Activations = Vec::new();
    for (i, l) in spec.layers().iter().enumerate() {
        let input = acts.last().map(|a| a.1.as_slice()).unwrap_or(x);
        let w = &params[l.weight_off..l.bias_off];
        let b = &params[l.bias_off..l.bias_off + l.out_dim];
        acts.push(linear::forward(
            input,
            w,
            b,
            Dense { rows, in_dim: l.in_dim, out_dim: l.out_dim, act: spec.activation_of(i) },
        ));
    }
    acts
}

/// The gradient of the loss with respect to every parameter, given dL/d(output).
pub fn backward(
    spec: &MlpSpec,
    params: &[f32],
    x: &[f32],
    acts: &Activations,
    d_output: &[f32],
    rows: usize,
) -> Vec<f32> {
    let layers = spec.layers();
    let mut grads = vec![0.0f32; spec.param_count()];
    let mut dy = d_output.to_vec();
    for (i, l) in layers.iter().enumerate().rev() {
        let input = if i == 0 { x } else { acts[i - 1].1.as_slice() };
        let w = &params[l.weight_off..l.bias_off];
        let g = linear::backward(
            input,
            w,
            &acts[i].0,
            &dy,
            Dense { rows, in_dim: l.in_dim, out_dim: l.out_dim, act: spec.activation_of(i) },
        );
        grads[l.weight_off..l.bias_off].copy_from_slice(&g.dw);
        grads[l.bias_off..l.bias_off + l.out_dim].copy_from_slice(&g.db);
        dy = g.dx;
    }
    grads
}
