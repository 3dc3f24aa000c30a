//! Training a velocity network on a toy problem with EFM on the GPU, then sampling it.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::ToyData;
use crate::flow::efm::EfmTable;
use crate::flow::{EfmConfig, EfmTrainer, EulerSampler, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::nn::Activation;
use crate::ops::AdamConfig;
use crate::random::{streams, RngStream};

/// Everything that decides a toy run; written to the run's metrics.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToyConfig {
    pub beta: f32,
    pub steps: usize,
    pub batch: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub lr: f64,
    /// The learning rate decays on a cosine to this fraction of `lr` by the last step.
    pub lr_final_fraction: f64,
    pub time_features: usize,
    pub time_scale: f32,
    pub euler_steps: usize,
    pub samples: usize,
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            beta: 0.0,
            steps: 8000,
            batch: 512,
            hidden: vec![64, 64, 64],
            activation: Activation::Silu,
            lr: 5e-3,
            lr_final_fraction: 0.05,
            time_features: 16,
            time_scale: 4.0,
            euler_steps: 100,
            samples: 4000,
            seed: 0,
        }
    }
}

/// Steps recorded per submit; the losses of one submit are read back together.
const STEPS_PER_SUBMIT: usize = 250;

/// Trains a network on `data` and returns `config.samples` samples from it (row-major,
/// samples×dim). `progress(step, mean loss of the last submit)` is called after each submit.
pub fn train_and_sample(
    gpu: &Gpu,
    data: &ToyData,
    config: &ToyConfig,
    mut progress: impl FnMut(usize, f32),
) -> Result<Vec<f32>> {
    data.validate()?;
    ensure!(config.steps > 0 && config.samples > 0, "steps and samples must be at least 1");
    let spec = VelocitySpec {
        dim: data.dim,
        cond_dim: 0,
        time_features: config.time_features,
        time_scale: config.time_scale,
        hidden: config.hidden.clone(),
        activation: config.activation,
        architecture: Default::default(),
    };
    let net = VelocityNet::new(gpu, &spec, config.seed)?;
    // The flow starts from N(0, I): training on standardised coordinates makes the same
    // settings work whatever the data's scale and offset.
    let standard = Standardization::fit(&data.points, data.dim);
    let points = GpuBuffer::from_slice(gpu, "toy points", &standard.apply(&data.points))?;
    let energies = GpuBuffer::from_slice(gpu, "toy energies", &data.energies)?;
    let table = EfmTable { len: data.len(), points: &points, energies: &energies, cond: None };
    let efm = EfmConfig {
        batch: config.batch,
        beta: config.beta,
        group: 0,
        adam: AdamConfig { lr: config.lr, ..Default::default() },
    };
    let mut trainer = EfmTrainer::new(gpu, &net, table, efm, config.seed, STEPS_PER_SUBMIT)?;

    let mut done = 0;
    while done < config.steps {
        let chunk = STEPS_PER_SUBMIT.min(config.steps - done);
        trainer.flow.adam.set_lr(cosine_lr(config, done))?;
        let mut rec = Recorder::new(gpu);
        for _ in 0..chunk {
            trainer.record_step(&mut rec, &net);
        }
        rec.submit_and_wait()?;
        done += chunk;
        let losses: Vec<f32> = trainer.flow.losses.read_range(gpu, 0, chunk)?;
        let mean = losses.iter().sum::<f32>() / chunk as f32;
        ensure!(mean.is_finite(), "training diverged: the loss was not finite by step {done}");
        progress(done, mean);
    }

    let unused = GpuBuffer::zeros(gpu, "no condition", 1)?;
    let sampler = EulerSampler::new(gpu, &net, &unused, config.samples, 1, config.euler_steps)?;
    let mut rng = RngStream::new(config.seed, streams::POLICY_NOISE);
    let mut rec = Recorder::new(gpu);
    sampler.record(&mut rec, &net, config.samples, 0, &mut rng, None);
    rec.submit_and_wait()?;
    let samples = sampler.x.read_range(gpu, 0, config.samples * data.dim)?;
    Ok(standard.invert(&samples))
}

/// Per-coordinate mean and standard deviation of a point cloud.
struct Standardization {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardization {
    fn fit(points: &[f32], dim: usize) -> Self {
        let n = (points.len() / dim).max(1) as f64;
        let mut mean = vec![0.0f64; dim];
        let mut var = vec![0.0f64; dim];
        for row in points.chunks(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x as f64 / n;
            }
        }
        for row in points.chunks(dim) {
            for ((v, m), &x) in var.iter_mut().zip(&mean).zip(row) {
                *v += (x as f64 - m).powi(2) / n;
            }
        }
        // A constant coordinate keeps scale 1 rather than dividing by zero.
        let std = var.iter().map(|&v| if v > 1e-12 { v.sqrt() } else { 1.0 }).collect();
        Self { mean, std }
    }

    fn apply(&self, points: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        points.iter().enumerate().map(|(i, &x)| ((x as f64 - self.mean[i % dim]) / self.std[i % dim]) as f32).collect()
    }

    fn invert(&self, points: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        points.iter().enumerate().map(|(i, &x)| (x as f64 * self.std[i % dim] + self.mean[i % dim]) as f32).collect()
    }
}

/// The learning rate at `step`: cosine decay from `lr` to `lr · lr_final_fraction`.
fn cosine_lr(config: &ToyConfig, step: usize) -> f64 {
    let progress = step as f64 / config.steps as f64;
    let floor = config.lr_final_fraction;
    config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}
