//! A trained policy as saved on disk: a run directory (its final policy, or its behaviour
//! policy before improvement has run) or a single checkpoint file.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::config::TrainConfig;
use super::snapshot::load_velocity;
use super::train::NORMALIZATION_FILE;
use crate::data::Normalization;
use crate::flow::VelocityNet;
use crate::gpu::Gpu;
use crate::run::checkpoint::Checkpoint;
use crate::run::seeds::SeedsDir;
use crate::run::{RunDir, Stage};

pub struct SavedPolicy {
    pub checkpoint: Checkpoint,
    /// "policy" or "behaviour": which network of the checkpoint.
    pub prefix: String,
    /// The run's normalisation, which evaluation must apply to observations.
    pub normalization: Option<Normalization>,
    /// The run's config, when the path is a run directory.
    pub config: Option<TrainConfig>,
}

/// The run directory holding `file` as `<run>/checkpoints/<stage>.safetensors`, if any.
fn run_of_checkpoint(file: &Path) -> Option<RunDir> {
    let checkpoints = file.parent()?;
    let run = checkpoints.parent()?;
    let candidate = RunDir::open(run).ok()?;
    (candidate.checkpoint_dir() == checkpoints).then_some(candidate)
}

/// The normalisation a run applied to its data, if it wrote one.
pub fn read_normalization(run: &RunDir) -> Result<Option<Normalization>> {
    let path = run.path().join(NORMALIZATION_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not a normalisation", path.display()))?,
        )),
        Err(_) => Ok(None),
    }
}

impl SavedPolicy {
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_file() {
            let checkpoint = Checkpoint::load(path)?;
            let prefix = if checkpoint.tensors.contains_key("policy.params") { "policy" } else { "behaviour" };
            // A checkpoint inside a run directory takes the run's normalisation and settings:
            // without them a policy trained on standardised states would see raw ones.
            let (normalization, config) = match run_of_checkpoint(path) {
                Some(run) => (read_normalization(&run)?, Some(run.read_config()?)),
                None => (None, None),
            };
            return Ok(Self { checkpoint, prefix: prefix.into(), normalization, config });
        }
        if SeedsDir::is_at(path) {
            let seeds = SeedsDir::open(path)?;
            let first = seeds.runs[0].path().display();
            anyhow::bail!(
                "{} holds {} seeds, each a run of its own: name one, e.g. --checkpoint {first}",
                path.display(),
                seeds.runs.len()
            );
        }
        let run = RunDir::open(path)?;
        let config = run.read_config()?;
        let (file, prefix) = match run.checkpoint_path(Stage::Policy) {
            p if p.exists() => (p, "policy"),
            _ => (run.checkpoint_path(Stage::Behaviour), "behaviour"),
        };
        let normalization = read_normalization(&run)?;
        Ok(Self { checkpoint: Checkpoint::load(&file)?, prefix: prefix.into(), normalization, config: Some(config) })
    }

    /// The velocity network, on the GPU.
    pub fn network(&self, gpu: &Gpu) -> Result<VelocityNet> {
        load_velocity(&self.checkpoint, gpu, &self.prefix)
    }

    /// The run's Euler steps, when known.
    pub fn euler_steps(&self) -> Option<usize> {
        self.config.as_ref().map(|c| c.support.euler_steps)
    }
}
