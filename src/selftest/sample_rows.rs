//! The one-dispatch sampler of small batches (`shaders/sample_rows.wgsl`) against its CPU
//! twin and against the batched Euler sampler, which must give the same samples.

use anyhow::{ensure, Result};

use super::{bits, Check};
use crate::flow::{EulerSampler, RowSampler, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::sample_rows::SAMPLE_ROWS;
use crate::random::{streams, RngStream};
use crate::reference::qipo::{euler_sample, VelocityParams};

/// Actions for `rows` fixed states through `steps` Euler steps, clipped or not, by a
/// network initialised from `net_seed`, with noise from the policy stream of `noise_seed`.
#[derive(Debug, Clone)]
pub struct Case {
    pub spec: VelocitySpec,
    pub rows: usize,
    pub steps: usize,
    pub clip: Option<(f32, f32)>,
    pub net_seed: u64,
    pub noise_seed: u64,
    /// Relative to 1 + |cpu|.
    pub tolerance: f32,
}

/// Samples with the one-dispatch sampler, the batched sampler and the CPU twin from the
/// same draw. The one-dispatch sampler has room for 2 rows more than it samples, which it
/// must leave alone; both samplers must take as many draws. A clip must bind somewhere, or the
/// case does not check it.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { ref spec, rows, steps, clip, net_seed, noise_seed, tolerance } = *case;
    let net = VelocityNet::new(gpu, spec, net_seed)?;
    ensure!(RowSampler::fits(&net), "the network is too wide for one dispatch: {case:?}");
    let states: Vec<f32> = (0..rows * spec.cond_dim).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
    let states_buf = GpuBuffer::from_slice(gpu, "states", &states)?;
    let padded = [states.clone(), vec![0.0; 2 * spec.cond_dim]].concat();
    let cond = GpuBuffer::from_slice(gpu, "cond", &padded)?;
    let fused = RowSampler::new(gpu, &net, &cond, rows + 2, steps)?;
    let batched = EulerSampler::new(gpu, &net, &states_buf, rows, 1, steps)?;
    let (mut fused_rng, mut batched_rng) =
        (RngStream::new(noise_seed, streams::POLICY_NOISE), RngStream::new(noise_seed, streams::POLICY_NOISE));
    let mut rec = Recorder::new(gpu);
    fused.record(&mut rec, &net, rows, &mut fused_rng, clip);
    batched.record(&mut rec, &net, rows, 0, &mut batched_rng, clip);
    rec.submit_and_wait()?;

    let cpu_net =
        VelocityParams { spec: spec.clone(), params: net.params().read(gpu)?, frequencies: net.frequencies.read(gpu)? };
    let mut cpu_rng = RngStream::new(noise_seed, streams::POLICY_NOISE);
    let want = euler_sample(&cpu_net, &states, rows, 1, steps, &mut cpu_rng, clip);
    if let Some((low, high)) = clip {
        ensure!(want.iter().any(|&v| v == low || v == high), "the clip never binds: {case:?}");
    }
    let name = "Euler sampling in one dispatch";
    let kernels = [SAMPLE_ROWS];
    let got: Vec<f32> = fused.x.read(gpu)?;
    let (got, rest) = got.split_at(rows * spec.dim);
    let parts = [
        Check::close(name, &kernels, got, &want, tolerance),
        Check::close(name, &kernels, got, &batched.x.read::<f32>(gpu)?, tolerance),
        Check::exact(name, &kernels, &bits(rest), &vec![0; rest.len()]),
        Check::exact(name, &kernels, &[fused_rng.calls], &[batched_rng.calls]),
    ];
    Ok(Check::all(name, &kernels, &parts))
}
