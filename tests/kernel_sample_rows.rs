//! The one-dispatch sampler of small batches (`shaders/sample_rows.wgsl`) against its CPU
//! twin and against the batched Euler sampler, which must give the same samples.

mod common;

use common::gpu;
use qipo::flow::{ActionSampler, Architecture, RowSampler, VelocityNet, VelocitySpec};
use qipo::gpu::GpuBuffer;
use qipo::kernels::sample_rows::MAX_WIDTH;
use qipo::nn::Activation;
use qipo::selftest::sample_rows::{self, Case};

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

/// Samples of `rows` states with the one-dispatch sampler (which the network must fit), the
/// batched sampler and the CPU twin, from the same draw.
fn check(spec: &VelocitySpec, rows: usize, steps: usize, clip: Option<(f32, f32)>) {
    let case =
        Case { spec: spec.clone(), rows, steps, clip, net_seed: 31 + rows as u64, noise_seed: 5, tolerance: 1e-4 };
    let check = sample_rows::check(gpu(), &case).unwrap();
    assert!(check.passed, "{case:?}: {check}");
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
