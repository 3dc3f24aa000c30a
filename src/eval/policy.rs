//! What chooses the actions during evaluation: the trained flow policy (one sampling call on
//! the GPU for all live episodes, one dispatch where the network fits the one-dispatch
//! sampler), or the zero and uniform-random baselines.

use anyhow::{ensure, Result};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::ObservationNormalization;
use crate::flow::{ActionSampler, VelocityNet};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::random::{streams, RngStream};

/// Chooses one action for each of `rows` observations (`rows × act_dim` values).
pub trait Policy {
    fn name(&self) -> String;
    fn act(&mut self, observations: &[f64], rows: usize) -> Result<Vec<f64>>;
}

/// Always the zero action.
pub struct ZeroPolicy {
    pub act_dim: usize,
}

impl Policy for ZeroPolicy {
    fn name(&self) -> String {
        "zero".into()
    }

    fn act(&mut self, _observations: &[f64], rows: usize) -> Result<Vec<f64>> {
        Ok(vec![0.0; rows * self.act_dim])
    }
}

/// Actions drawn uniformly within the action bounds.
pub struct RandomPolicy {
    low: Vec<f64>,
    high: Vec<f64>,
    rng: ChaCha8Rng,
}

impl RandomPolicy {
    pub fn new(bounds: (Vec<f64>, Vec<f64>), seed: u64) -> Self {
        Self { low: bounds.0, high: bounds.1, rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> String {
        "random".into()
    }

    fn act(&mut self, _observations: &[f64], rows: usize) -> Result<Vec<f64>> {
        let mut actions = Vec::with_capacity(rows * self.low.len());
        for _ in 0..rows {
            for (&low, &high) in self.low.iter().zip(&self.high) {
                actions.push(if high > low { self.rng.random_range(low..high) } else { low });
            }
        }
        Ok(actions)
    }
}

/// A trained velocity network: each call samples one action per observation by Euler
/// sampling, from noise drawn on the GPU, in one submit.
pub struct FlowPolicy<'a> {
    gpu: &'a Gpu,
    net: &'a VelocityNet,
    sampler: ActionSampler,
    states: GpuBuffer,
    normalization: Option<ObservationNormalization>,
    rng: RngStream,
    name: String,
}

impl<'a> FlowPolicy<'a> {
    /// A policy for up to `capacity` observations per call; observations are standardised
    /// with `normalization` first when the policy was trained on standardised data.
    pub fn new(
        gpu: &'a Gpu,
        net: &'a VelocityNet,
        capacity: usize,
        euler_steps: usize,
        normalization: Option<ObservationNormalization>,
        seed: u64,
        name: impl Into<String>,
    ) -> Result<Self> {
        let states = GpuBuffer::zeros(gpu, "evaluation states", capacity.max(1) * net.spec.cond_dim)?;
        let sampler = ActionSampler::new(gpu, net, &states, capacity.max(1), euler_steps)?;
        let rng = RngStream::new(seed, streams::POLICY_NOISE);
        Ok(Self { gpu, net, sampler, states, normalization, rng, name: name.into() })
    }
}

impl Policy for FlowPolicy<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn act(&mut self, observations: &[f64], rows: usize) -> Result<Vec<f64>> {
        let obs_dim = self.net.spec.cond_dim;
        ensure!(observations.len() == rows * obs_dim, "the policy takes {obs_dim}-d observations");
        let capacity = self.sampler.capacity();
        ensure!(rows <= capacity, "{rows} observations for a policy built for {capacity}");
        let mut states: Vec<f32> = observations.iter().map(|&v| v as f32).collect();
        if let Some(normalization) = &self.normalization {
            normalization.apply(&mut states);
        }
        self.states.write(self.gpu, 0, &states);
        let mut rec = Recorder::new(self.gpu);
        self.sampler.record(&mut rec, self.net, rows, &mut self.rng, None);
        rec.submit_and_wait()?;
        let actions: Vec<f32> = self.sampler.samples().read_range(self.gpu, 0, rows * self.net.spec.dim)?;
        Ok(actions.into_iter().map(f64::from).collect())
    }
}
