//! The MLP on the GPU against its CPU twin, and its gradient against finite differences.

mod common;

use common::{assert_close, assert_finite_differences, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::loss::{SquaredError, SquaredErrorParams};
use qipo::nn::{Activation, CopyInput, Mlp, MlpPass, MlpSpec};
use qipo::reference;
use qipo::selftest::mlp;

#[test]
fn forward_and_backward_match_reference() {
    for (spec, rows) in [
        (MlpSpec::new(3, &[7], 2, Activation::Relu), 1),
        (MlpSpec::new(5, &[33, 17], 3, Activation::Mish), 33),
        (MlpSpec::new(17, &[64, 64, 64], 6, Activation::Silu), 257),
        (MlpSpec::new(1, &[], 1, Activation::Mish), 7),
    ] {
        // The output to 1e-5, the gradients to 1e-4.
        let case = mlp::Case { spec, rows, seed: rows as u64, tolerance: 1e-5, grad_tolerance: 1e-4 };
        let check = mlp::check(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
    }
}

#[test]
fn gpu_gradient_matches_finite_differences() {
    // Central differences of the loss (CPU forward in f32 with a step large enough that
    // rounding stays far below the tolerance) against the GPU backward pass.
    let spec = MlpSpec::new(3, &[8, 6], 2, Activation::Mish);
    let rows = 9;
    let x = random(7, rows * spec.input, 1.0);
    let target = random(8, rows * spec.output, 1.0);
    let params = spec.init_params(9);
    let loss = |p: &[f32]| -> f64 {
        let acts = reference::mlp::forward(&spec, p, &x, rows);
        let out = &acts.last().unwrap().1;
        out.iter().zip(&target).map(|(&o, &t)| ((o - t) as f64).powi(2)).sum::<f64>() / rows as f64
    };

    let gpu = gpu();
    let mlp = Mlp::from_params(gpu, &spec, &params).unwrap();
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x).unwrap();
    let t_buf = GpuBuffer::from_slice(gpu, "target", &target).unwrap();
    let loss_buf = GpuBuffer::zeros(gpu, "loss", 1).unwrap();
    let pass = MlpPass::new(gpu, &mlp, &x_buf, rows, true).unwrap();
    let sq = SquaredError::new(gpu, pass.output(), &t_buf, None, pass.output_grad().unwrap(), &loss_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    pass.record_forward(&mut rec, &mlp, rows);
    sq.record(&mut rec, rows, spec.output, SquaredErrorParams { scale: 1.0 / rows as f32, ..Default::default() });
    pass.record_backward(&mut rec, &mlp, rows, false);
    rec.submit_and_wait().unwrap();
    let grads: Vec<f32> = mlp.grads.read(gpu).unwrap();

    assert_finite_differences(&params, &grads, loss, 2e-3, 2e-3);
}

#[test]
fn layout_and_initialisation_follow_pytorch() {
    let spec = MlpSpec::new(4, &[3], 2, Activation::Relu);
    let layers = spec.layers();
    assert_eq!(layers.len(), 2);
    assert_eq!((layers[0].weight_off, layers[0].bias_off), (0, 12));
    assert_eq!((layers[1].weight_off, layers[1].bias_off), (15, 21));
    assert_eq!(spec.param_count(), 23);
    let p = spec.init_params(1);
    assert!(p[..15].iter().all(|v| v.abs() <= 0.5), "fan_in 4: bound 1/2");
    assert!(p[15..].iter().all(|v| v.abs() <= 1.0 / 3f32.sqrt()), "fan_in 3");
    assert_eq!(p, spec.init_params(1), "same seed, same parameters");
    assert_ne!(p, spec.init_params(2));
}

/// The input block copy `c` reads under `layout`.
fn input_block(layout: CopyInput, c: usize) -> usize {
    match layout {
        CopyInput::Shared => 0,
        CopyInput::PerCopy => c,
        CopyInput::PerGroup(k) => c / k,
    }
}

/// Three networks of one shape run on a shared input, each on its own rows, or in pairs on
/// shared rows, in the same dispatches: each copy's output and gradients must be those of its
/// own network run alone (the CPU twin) on its rows.
fn check_copies(layout: CopyInput) {
    let gpu = gpu();
    let spec = MlpSpec::new(11, &[19, 13], 2, Activation::Mish);
    let (rows, capacity, copies) = (23, 25, 3);
    let inputs = input_block(layout, copies - 1) + 1;
    let x = random(40, inputs * capacity * spec.input, 1.2);
    let target = random(41, rows * spec.output, 1.0);
    let params: Vec<Vec<f32>> = (0..copies).map(|c| spec.init_params(50 + c as u64)).collect();
    let scale = 1.0 / rows as f32;

    let refs: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    let mlp = Mlp::copies_from_params(gpu, &spec, &refs).unwrap();
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x).unwrap();
    let t_buf = GpuBuffer::from_slice(gpu, "target", &target).unwrap();
    let loss_buf = GpuBuffer::zeros(gpu, "loss", 1).unwrap();
    let pass = MlpPass::with_input(gpu, &mlp, &x_buf, capacity, true, layout).unwrap();
    let loss = SquaredError::new(gpu, pass.output(), &t_buf, None, pass.output_grad().unwrap(), &loss_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    pass.record_forward(&mut rec, &mlp, rows);
    for c in 0..copies {
        let off = pass.output_offset(c, rows) as u32;
        let params = SquaredErrorParams { pred_off: off, grad_off: off, scale, ..Default::default() };
        loss.record(&mut rec, rows, spec.output, params);
    }
    pass.record_backward(&mut rec, &mlp, rows, false);
    rec.submit_and_wait().unwrap();

    let grads: Vec<f32> = mlp.grads.read(gpu).unwrap();
    for (c, p) in params.iter().enumerate() {
        // Copies lie back to back, `rows` rows apart, on a call over `rows` rows.
        let first = input_block(layout, c) * rows * spec.input;
        let x_run = &x[first..first + rows * spec.input];
        let acts = reference::mlp::forward(&spec, p, x_run, rows);
        let out_ref = &acts.last().unwrap().1;
        let (_, d_out) = reference::loss::weighted_squared_error(out_ref, &target, None, rows, spec.output, scale);
        let grads_ref = reference::mlp::backward(&spec, p, x_run, &acts, &d_out, rows);
        let out = pass.output().read_range::<f32>(gpu, pass.output_offset(c, rows), rows * spec.output).unwrap();
        assert_close(&format!("copy {c} output"), &out, out_ref, 1e-5);
        let n = spec.param_count();
        assert_close(&format!("copy {c} gradients"), &grads[mlp.copy_offset(c)..][..n], &grads_ref, 1e-4);
    }
}

#[test]
fn copies_on_a_shared_input_run_like_separate_networks() {
    check_copies(CopyInput::Shared);
}

#[test]
fn copies_on_their_own_inputs_run_like_separate_networks() {
    check_copies(CopyInput::PerCopy);
}

#[test]
fn copies_in_pairs_on_shared_inputs_run_like_separate_networks() {
    check_copies(CopyInput::PerGroup(2));
}
