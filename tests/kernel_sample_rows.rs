//! The one-dispatch sampler of small batches (`shaders/sample_rows.wgsl`) against its CPU
//! twin and against the batched Euler sampler, which must give the same samples.

mod common;

use common::{assert_close, gpu};
use qipo::flow::{ActionSampler, Architecture, EulerSampler, RowSampler, VelocityNet, VelocitySpec};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::sample_rows::MAX_WIDTH;
use qipo::nn::Activation;
use qipo::random::{streams, RngStream};
use qipo::reference::qipo::{euler_sample, VelocityParams};

fn spec(dim: usize, cond_dim: usize, features: usize, hidden: &[usize], activation: Activation) -> VelocitySpec {
    let architecture = Default::default();
    VelocitySpec {
        dim,
        cond_dim,
        time_features: features,
        time_scale: 30.0,
        hidden: hidden.to_vec(),
        activation,
        architecture,
    }
}

/// Samples of `rows` states with the one-dispatch sampler, the batched sampler and the CPU
/// twin, from the same draw.
fn check(spec: &VelocitySpec, rows: usize, steps: usize, clip: Option<(f32, f32)>) {
    let gpu = gpu();
    let net = VelocityNet::new(gpu, spec, 31 + rows as u64).unwrap();
    assert!(RowSampler::fits(&net));
    let states: Vec<f32> = (0..rows * spec.cond_dim).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
    let states_buf = GpuBuffer::from_slice(gpu, "states", &states).unwrap();
    // Room for more rows than sampled: the sampler must not touch the rest.
    let capacity = rows + 2;
    let padded = [states.clone(), vec![0.0; 2 * spec.cond_dim]].concat();
    let cond = GpuBuffer::from_slice(gpu, "cond", &padded).unwrap();
    let fused = RowSampler::new(gpu, &net, &cond, capacity, steps).unwrap();
    let batched = EulerSampler::new(gpu, &net, &states_buf, rows, 1, steps).unwrap();
    let (mut fused_rng, mut batched_rng) =
        (RngStream::new(5, streams::POLICY_NOISE), RngStream::new(5, streams::POLICY_NOISE));
    let mut rec = Recorder::new(gpu);
    fused.record(&mut rec, &net, rows, &mut fused_rng, clip);
    batched.record(&mut rec, &net, rows, 0, &mut batched_rng, clip);
    rec.submit_and_wait().unwrap();
    assert_eq!(fused_rng, batched_rng, "both take one draw");

    let cpu_net = VelocityParams {
        spec: spec.clone(),
        params: net.params().read(gpu).unwrap(),
        frequencies: net.frequencies.read(gpu).unwrap(),
    };
    let mut cpu_rng = RngStream::new(5, streams::POLICY_NOISE);
    let want = euler_sample(&cpu_net, &states, rows, 1, steps, &mut cpu_rng, clip);
    let what = format!("{spec:?}, {rows} rows, {steps} steps, clip {clip:?}");
    let got: Vec<f32> = fused.x.read(gpu).unwrap();
    assert_close(&format!("{what}: one dispatch vs CPU"), &got[..rows * spec.dim], &want, 1e-4);
    assert!(got[rows * spec.dim..].iter().all(|&v| v == 0.0), "{what}: wrote past its rows");
    let batched: Vec<f32> = batched.x.read(gpu).unwrap();
    assert_close(&format!("{what}: one dispatch vs batched"), &got[..rows * spec.dim], &batched, 1e-4);
    if let Some((low, high)) = clip {
        assert!(want.iter().any(|&v| v == low || v == high), "{what}: the clip must be exercised");
    }
}

#[test]
fn one_dispatch_samples_match_reference_and_the_batched_sampler() {
    check(&spec(3, 5, 8, &[19, 13], Activation::Mish), 7, 3, None);
    check(&spec(3, 5, 8, &[19, 13], Activation::Mish), 7, 3, Some((-0.5, 0.5)));
    check(&spec(6, 17, 32, &[64, 64, 64], Activation::Relu), 10, 10, Some((-1.0, 1.0)));
    // Wider than a workgroup, an unconditional network, and one sample.
    check(&spec(2, 0, 4, &[300], Activation::Silu), 1, 2, None);
    check(&spec(1, 3, 0, &[5], Activation::Mish), 4, 1, None);
}

#[test]
fn networks_too_wide_fall_back_to_the_batched_sampler() {
    let gpu = gpu();
    let wide = VelocityNet::new(gpu, &spec(2, 3, 4, &[MAX_WIDTH + 1], Activation::Relu), 1).unwrap();
    assert!(!RowSampler::fits(&wide));
    let states = GpuBuffer::zeros(gpu, "states", 4 * 3).unwrap();
    assert!(RowSampler::new(gpu, &wide, &states, 4, 2).is_err());
    let choose = |net: &VelocityNet, rows: bool| ActionSampler::with_choice(gpu, net, &states, 4, 2, rows).unwrap();
    assert!(matches!(choose(&wide, true), ActionSampler::Batched(_)));
    let narrow = VelocityNet::new(gpu, &spec(2, 3, 4, &[8], Activation::Relu), 1).unwrap();
    assert!(matches!(choose(&narrow, true), ActionSampler::Rows(_)));
    assert!(matches!(choose(&narrow, false), ActionSampler::Batched(_)));
    let copies = VelocityNet::for_seeds(gpu, &spec(2, 3, 4, &[8], Activation::Relu), 1, 2).unwrap();
    assert!(!RowSampler::fits(&copies), "copies of a network use the batched sampler");
    // The kernel runs a plain stack of layers: the residual network, however narrow, takes
    // the batched sampler.
    let resnet = VelocitySpec {
        architecture: Architecture::Resnet { cond_width: 4, embed_width: 6 },
        ..spec(2, 3, 4, &[8, 4], Activation::Silu)
    };
    let resnet = VelocityNet::new(gpu, &resnet, 1).unwrap();
    assert!(!RowSampler::fits(&resnet));
    assert!(matches!(choose(&resnet, true), ActionSampler::Batched(_)));
}
