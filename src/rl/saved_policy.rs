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

impl SavedPolicy {
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_file() {
            let checkpoint = Checkpoint::load(path)?;
            let prefix = if checkpoint.tensors.contains_key("policy.params") { "policy" } else { "behaviour" };
            return Ok(Self { checkpoint, prefix: prefix.into(), normalization: None, config: None });
        }
        let run = RunDir::open(path)?;
        let config = run.read_config()?;
        let (file, prefix) = match run.checkpoint_path(Stage::Policy) {
            p if p.exists() => (p, "policy"),
            _ => (run.checkpoint_path(Stage::Behaviour), "behaviour"),
        };
        let normalization = match std::fs::read(run.path().join(NORMALIZATION_FILE)) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: bad {NORMALIZATION_FILE}", path.display()))?,
            ),
            Err(_) => None,
        };
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
