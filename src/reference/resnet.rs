//! CPU twin of the residual velocity network ([`crate::nn::resnet`]): QGPO's `ScoreNet`
//! forward, written as QGPO writes it, and its backward pass, from the linear layer's twin.

use super::columns::{concat, slice};
use super::linear::{self, Dense, LinearGrads};
use crate::nn::activation::Activation;
use crate::nn::resnet_spec::{BlockInput, ResNetLayout, ResNetSpec};
use crate::ops::LayerShape;

/// A layer's (pre-activation, output).
type Output = (Vec<f32>, Vec<f32>);

/// What the backward pass needs of one block.
pub struct BlockTrace {
    pub input: Vec<f32>,
    /// act(dense1(input)), before the time term is added.
    pub dense1: Output,
    /// dense1's output plus the time term: dense2's input.
    pub h: Vec<f32>,
    pub dense2: Output,
    /// The block's output: act(dense2(h)) + skip(input).
    pub output: Vec<f32>,
}

/// Everything a forward pass computed.
pub struct Trace {
    pub fourier: Vec<f32>,
    pub cond: Vec<f32>,
    pub time: Output,
    pub state: Option<Output>,
    /// [state encoding | time], the embedding's input.
    pub joint: Vec<f32>,
    pub embed: [Output; 2],
    /// Every block's time term, side by side.
    pub time_proj: Output,
    pub blocks: Vec<BlockTrace>,
    /// [d_0 | u_0], the output layer's input.
    pub top: Vec<f32>,
    pub output: Output,
}

fn apply(params: &[f32], l: &LayerShape, x: &[f32], rows: usize, act: Activation) -> Output {
    let w = &params[l.weight_off..l.bias_off];
    let b = &params[l.bias_off..l.bias_off + l.out_dim];
    linear::forward(x, w, b, Dense { rows, in_dim: l.in_dim, out_dim: l.out_dim, act })
}

fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

fn add_into(into: &mut [f32], b: &[f32]) {
    into.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}

/// The forward pass over `rows` input rows [x | Fourier features of t | cond].
pub fn forward(spec: &ResNetSpec, params: &[f32], input: &[f32], rows: usize) -> Trace {
    let l = spec.layout();
    let act = spec.activation;
    let (a, f, c, width) = (spec.x_dim, spec.time_features, spec.cond_dim, spec.input_width());
    let x = slice(input, rows, width, 0, a);
    let fourier = slice(input, rows, width, a, f);
    let cond = slice(input, rows, width, a + f, c);

    let time = apply(params, &l.time, &fourier, rows, Activation::Identity);
    let state = l.cond.map(|shape| apply(params, &shape, &cond, rows, act));
    let joint = match &state {
        Some(state) => concat(&state.1, &time.1, rows),
        None => time.1.clone(),
    };
    let e0 = apply(params, &l.embed[0], &joint, rows, act);
    // QGPO's embedding ends without an activation, and every block's time_mlp starts with
    // one: applying it once here is the same.
    let e1 = apply(params, &l.embed[1], &e0.1, rows, act);
    let time_proj = apply(params, &l.time_proj, &e1.1, rows, Activation::Identity);

    let mut blocks: Vec<BlockTrace> = Vec::new();
    for b in &l.blocks {
        let input = match b.input {
            BlockInput::X => x.clone(),
            BlockInput::Block(i) => blocks[i].output.clone(),
            BlockInput::Concat(level) => concat(&blocks[level].output, &blocks[l.up_block(level)].output, rows),
        };
        let dense1 = apply(params, &b.dense1, &input, rows, act);
        let time_term = slice(&time_proj.1, rows, l.time_proj.out_dim, b.time_column, b.out_dim);
        let h = add(&dense1.1, &time_term);
        let dense2 = apply(params, &b.dense2, &h, rows, act);
        let skip = match &b.skip {
            Some(shape) => apply(params, shape, &input, rows, Activation::Identity).1,
            None => input.clone(),
        };
        let output = add(&dense2.1, &skip);
        blocks.push(BlockTrace { input, dense1, h, dense2, output });
    }
    let top = concat(&blocks[0].output, &blocks[l.up_block(0)].output, rows);
    let output = apply(params, &l.last, &top, rows, Activation::Identity);
    Trace { fourier, cond, time, state, joint, embed: [e0, e1], time_proj, blocks, top, output }
}

/// The gradient of the loss with respect to every parameter, given dL/d(output).
pub fn backward(spec: &ResNetSpec, params: &[f32], trace: &Trace, d_output: &[f32], rows: usize) -> Vec<f32> {
    let l: ResNetLayout = spec.layout();
    let act = spec.activation;
    let mut grads = vec![0.0f32; l.param_count];
    let mut layer_backward = |shape: &LayerShape, x: &[f32], z: &[f32], dy: &[f32], act: Activation| -> LinearGrads {
        let w = &params[shape.weight_off..shape.bias_off];
        let g = linear::backward(x, w, z, dy, Dense { rows, in_dim: shape.in_dim, out_dim: shape.out_dim, act });
        grads[shape.weight_off..shape.bias_off].copy_from_slice(&g.dw);
        grads[shape.bias_off..shape.bias_off + shape.out_dim].copy_from_slice(&g.db);
        g
    };

    // The gradient of every block's output, filled by its consumers (which come after it).
    let mut d_outputs: Vec<Vec<f32>> = l.blocks.iter().map(|b| vec![0.0; rows * b.out_dim]).collect();
    let split = |d: &[f32], level: usize, d_outputs: &mut Vec<Vec<f32>>| {
        let w = spec.widths[level];
        add_into(&mut d_outputs[level], &slice(d, rows, 2 * w, 0, w));
        add_into(&mut d_outputs[l.up_block(level)], &slice(d, rows, 2 * w, w, w));
    };
    let g = layer_backward(&l.last, &trace.top, &trace.output.0, d_output, Activation::Identity);
    split(&g.dx, 0, &mut d_outputs);

    let mut d_time_proj = vec![0.0f32; rows * l.time_proj.out_dim];
    for (j, b) in l.blocks.iter().enumerate().rev() {
        let t = &trace.blocks[j];
        let d_out = d_outputs[j].clone();
        // output = act(dense2(h)) + skip(input)
        let mut d_input = match &b.skip {
            Some(shape) => {
                let z_unused = vec![0.0; rows * b.out_dim];
                layer_backward(shape, &t.input, &z_unused, &d_out, Activation::Identity).dx
            }
            None => d_out.clone(),
        };
        let d_h = layer_backward(&b.dense2, &t.h, &t.dense2.0, &d_out, act).dx;
        // h = act(dense1(input)) + the time term
        for r in 0..rows {
            for o in 0..b.out_dim {
                d_time_proj[r * l.time_proj.out_dim + b.time_column + o] = d_h[r * b.out_dim + o];
            }
        }
        add_into(&mut d_input, &layer_backward(&b.dense1, &t.input, &t.dense1.0, &d_h, act).dx);
        match b.input {
            BlockInput::X => {}
            BlockInput::Block(i) => add_into(&mut d_outputs[i], &d_input),
            BlockInput::Concat(level) => split(&d_input, level, &mut d_outputs),
        }
    }

    let z_unused = vec![0.0; rows * l.time_proj.out_dim];
    let d_e1 = layer_backward(&l.time_proj, &trace.embed[1].1, &z_unused, &d_time_proj, Activation::Identity).dx;
    let d_e0 = layer_backward(&l.embed[1], &trace.embed[0].1, &trace.embed[1].0, &d_e1, act).dx;
    let d_joint = layer_backward(&l.embed[0], &trace.joint, &trace.embed[0].0, &d_e0, act).dx;
    let d_time = match (&l.cond, &trace.state) {
        (Some(shape), Some(state)) => {
            let cw = shape.out_dim;
            let width = cw + spec.time_features;
            layer_backward(shape, &trace.cond, &state.0, &slice(&d_joint, rows, width, 0, cw), act);
            slice(&d_joint, rows, width, cw, spec.time_features)
        }
        _ => d_joint,
    };
    layer_backward(&l.time, &trace.fourier, &trace.time.0, &d_time, Activation::Identity);
    grads
}
