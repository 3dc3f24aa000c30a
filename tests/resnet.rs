//! The residual velocity network on the GPU against its CPU twin, its gradient against
//! finite differences, and its copies (seeds) against single networks.

mod common;

use common::{assert_close, assert_finite_differences, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::loss::{SquaredError, SquaredErrorParams};
use qipo::nn::resnet_spec::BlockInput;
use qipo::nn::{Activation, ResNet, ResNetPass, ResNetSpec};
use qipo::reference;

fn spec(x_dim: usize, time_features: usize, cond_dim: usize, widths: &[usize], act: Activation) -> ResNetSpec {
    ResNetSpec {
        x_dim,
        time_features,
        cond_dim,
        widths: widths.to_vec(),
        cond_width: 5,
        embed_width: 9,
        activation: act,
    }
}

/// The GPU's forward, mean squared error and backward pass of `copies` networks (`params`),
/// each on its own `rows` rows of `input` (a pass built for `capacity` rows per copy):
/// the outputs and every copy's gradients.
fn gpu_pass(
    spec: &ResNetSpec,
    params: &[Vec<f32>],
    input: &[f32],
    target: &[f32],
    rows: usize,
    capacity: usize,
) -> (Vec<f32>, Vec<f32>) {
    let gpu = gpu();
    let copies = params.len();
    let refs: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    let net = ResNet::copies_from_params(gpu, spec, &refs).unwrap();
    let x_buf = GpuBuffer::from_slice(gpu, "input", input).unwrap();
    let t_buf = GpuBuffer::from_slice(gpu, "target", target).unwrap();
    let loss_buf = GpuBuffer::zeros(gpu, "loss", 1).unwrap();
    let pass = ResNetPass::new(gpu, &net, &x_buf, capacity, true).unwrap();
    let loss = SquaredError::new(gpu, pass.output(), &t_buf, None, pass.output_grad().unwrap(), &loss_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    pass.record_forward(&mut rec, &net, rows);
    let mse = SquaredErrorParams { scale: 1.0 / rows as f32, ..Default::default() };
    loss.record(&mut rec, copies * rows, spec.x_dim, mse);
    pass.record_backward(&mut rec, &net, rows, false);
    rec.submit_and_wait().unwrap();
    let out = pass.output().read_range::<f32>(gpu, 0, copies * rows * spec.x_dim).unwrap();
    (out, net.grads.read(gpu).unwrap())
}

/// [`gpu_pass`] on random data, and the CPU twin's outputs and gradients, copy by copy:
/// [(GPU output, CPU output), (GPU gradients, CPU gradients)].
fn run(spec: &ResNetSpec, rows: usize, capacity: usize, copies: usize, seed: u64) -> [(Vec<f32>, Vec<f32>); 2] {
    let width = spec.input_width();
    let input = random(seed, copies * capacity * width, 1.5);
    let target = random(seed + 1, copies * rows * spec.x_dim, 1.0);
    let params: Vec<Vec<f32>> = (0..copies).map(|c| spec.init_params(seed + 2 + c as u64)).collect();

    let (mut out_ref, mut grads_ref) = (Vec::new(), Vec::new());
    for (c, p) in params.iter().enumerate() {
        let x = &input[c * rows * width..][..rows * width];
        let trace = reference::resnet::forward(spec, p, x, rows);
        let t = &target[c * rows * spec.x_dim..][..rows * spec.x_dim];
        let d_out =
            reference::loss::weighted_squared_error(&trace.output.1, t, None, rows, spec.x_dim, 1.0 / rows as f32).1;
        grads_ref.extend(reference::resnet::backward(spec, p, &trace, &d_out, rows));
        out_ref.extend(trace.output.1);
    }
    let (out, grads) = gpu_pass(spec, &params, &input, &target, rows, capacity);
    [(out, out_ref), (grads, grads_ref)]
}

#[test]
fn forward_and_backward_match_reference() {
    for (spec, rows, capacity, copies) in [
        // One level: the middle block alone between x and the output layer.
        (spec(2, 4, 3, &[7], Activation::Silu), 5, 5, 1),
        // QGPO's three levels at odd widths, a skip layer in every block whose widths change.
        (spec(3, 6, 11, &[17, 9, 5], Activation::Silu), 33, 37, 1),
        // Unconditional, Mish, two levels, three seeds in the same dispatches.
        (spec(2, 8, 0, &[13, 6], Activation::Mish), 19, 21, 3),
        (spec(6, 16, 17, &[24, 12, 8], Activation::Silu), 70, 70, 2),
    ] {
        let [(out, out_ref), (grads, grads_ref)] = run(&spec, rows, capacity, copies, rows as u64);
        assert_close(&format!("{spec:?} output"), &out, &out_ref, 1e-5);
        assert_close(&format!("{spec:?} gradients"), &grads, &grads_ref, 1e-4);
    }
}

#[test]
fn gradient_matches_finite_differences() {
    // Central differences of the CPU twin's loss, in f64 sums of an f32 forward pass, against
    // the GPU's backward pass: every parameter of a small network with every kind of layer.
    let spec = spec(2, 4, 3, &[5, 3], Activation::Silu);
    let rows = 6;
    let input = random(71, rows * spec.input_width(), 1.0);
    let target = random(72, rows * spec.x_dim, 1.0);
    let params = spec.init_params(73);
    let loss = |p: &[f32]| -> f64 {
        let out = reference::resnet::forward(&spec, p, &input, rows).output.1;
        out.iter().zip(&target).map(|(&o, &t)| ((o - t) as f64).powi(2)).sum::<f64>() / rows as f64
    };
    let (_, grads) = gpu_pass(&spec, std::slice::from_ref(&params), &input, &target, rows, rows);
    let largest = assert_finite_differences(&params, &grads, loss, 2e-3, 2e-3);
    assert!(largest > 1e-2, "the loss depends on the parameters");
}

#[test]
fn layout_follows_qgpo() {
    // QGPO's behaviour network for halfcheetah (6-d actions, 17-d states): 1,634,278
    // trainable parameters in its ScoreNet, which this layout reproduces layer for layer.
    let qgpo = ResNetSpec {
        x_dim: 6,
        time_features: 32,
        cond_dim: 17,
        widths: vec![512, 256, 128],
        cond_width: 32,
        embed_width: 128,
        activation: Activation::Silu,
    };
    let layout = qgpo.layout();
    assert_eq!(layout.param_count, 1_634_278);
    let inputs: Vec<BlockInput> = layout.blocks.iter().map(|b| b.input).collect();
    use BlockInput::*;
    assert_eq!(inputs, [X, Block(0), Block(1), Block(2), Concat(2), Concat(1)]);
    let widths: Vec<(usize, usize)> = layout.blocks.iter().map(|b| (b.in_dim, b.out_dim)).collect();
    assert_eq!(widths, [(6, 512), (512, 256), (256, 128), (128, 128), (256, 256), (512, 512)]);
    assert_eq!(layout.last.in_dim, 1024);
    // Layers tile the buffer without gaps.
    let mut end = 0;
    for l in layout.layers() {
        assert_eq!(l.weight_off, end);
        end = l.bias_off + l.out_dim;
    }
    assert_eq!(end, layout.param_count);
    let p = qgpo.init_params(3);
    assert!(p[layout.last.weight_off..].iter().all(|v| v.abs() <= 1.0 / 1024f32.sqrt()), "fan_in 1024");
    assert_eq!(p, qgpo.init_params(3));
}

#[test]
fn bad_shapes_are_errors() {
    let gpu = gpu();
    let mut s = spec(2, 4, 3, &[5], Activation::Silu);
    s.widths.clear();
    let err = ResNet::copies_from_params(gpu, &s, &[&[0.0; 4]]).err().unwrap().to_string();
    assert!(err.contains("policy_net.hidden"), "{err}");
    let s = spec(2, 4, 3, &[5], Activation::Silu);
    let err = ResNet::copies_from_params(gpu, &s, &[&[0.0; 4]]).err().unwrap().to_string();
    assert!(err.contains(&format!("4 parameters given for a network of {}", s.param_count())), "{err}");
}
