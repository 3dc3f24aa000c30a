//! The run directory: everything needed to reproduce, resume and inspect a training run.
//!
//! ```text
//! runs/hopper-mr/
//!   config.toml            the exact settings (written once, before training)
//!   state.json             finished stages, the stage under way and its step
//!   metrics.jsonl          one JSON object per logged step
//!   checkpoints/*.safetensors
//!   learning_curves.png
//! ```
//!
//! Every file that is rewritten in place (config, state, checkpoints) is written to a temporary
//! file in the same folder and renamed over the old one, so a crash leaves either the old or
//! the new version, never half of one.
//!
//! Module map: [`metrics`] (the JSON-lines log), [`checkpoint`] (safetensors checkpoints and
//! the progress state), [`plot`] (learning curves).

pub mod checkpoint;
pub mod metrics;
pub mod plot;
pub mod seeds;

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, RunState, StageProgress};
pub use metrics::{read_metrics, MetricsWriter};
pub use plot::plot_learning_curves;

use crate::rl::config::TrainConfig;

const CONFIG_FILE: &str = "config.toml";
const STATE_FILE: &str = "state.json";
const METRICS_FILE: &str = "metrics.jsonl";
const CHECKPOINT_DIR: &str = "checkpoints";
const PLOT_FILE: &str = "learning_curves.png";

/// The stages of a QIPO run, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Flow matching on the dataset's actions.
    Behaviour,
    /// Sampling M support actions per state from the behaviour policy.
    Support,
    /// The in-support critic.
    Critic,
    /// Energy-weighted policy improvement.
    Policy,
    /// Episodes in the environment with the final policy.
    Evaluation,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Behaviour, Stage::Support, Stage::Critic, Stage::Policy, Stage::Evaluation];

    /// The name used in files (`state.json`, metrics, checkpoint names).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Behaviour => "behaviour",
            Stage::Support => "support",
            Stage::Critic => "critic",
            Stage::Policy => "policy",
            Stage::Evaluation => "evaluation",
        }
    }

    /// The stage with this file name.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == name)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates a new run directory (and its parents), with a fresh progress state. An existing
    /// empty folder is fine; one that already holds a run is an error, so a run is never
    /// overwritten by accident.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let run = Self { path: path.as_ref().to_path_buf() };
        if run.path.exists() {
            ensure!(run.path.is_dir(), "run directory {} exists and is not a folder", run.path.display());
            ensure!(
                !run.config_path().exists() && !run.state_path().exists(),
                "{} already holds a run; resume it or choose another directory",
                run.path.display()
            );
        }
        fs::create_dir_all(run.checkpoint_dir())
            .with_context(|| format!("cannot create run directory {}", run.path.display()))?;
        run.write_state(&RunState::default())?;
        Ok(run)
    }

    /// Opens an existing run directory (one with a `config.toml`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let run = Self { path: path.as_ref().to_path_buf() };
        if !run.path.is_dir() {
            bail!("run directory {} does not exist", run.path.display());
        }
        ensure!(run.config_path().is_file(), "{} is not a run directory: it has no {CONFIG_FILE}", run.path.display());
        fs::create_dir_all(run.checkpoint_dir())
            .with_context(|| format!("cannot create {}", run.checkpoint_dir().display()))?;
        Ok(run)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }

    pub fn plot_path(&self) -> PathBuf {
        self.path.join(PLOT_FILE)
    }

    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join(CHECKPOINT_DIR)
    }

    /// The checkpoint of a stage's latest state (`checkpoints/<stage>.safetensors`), replaced
    /// atomically at every save.
    pub fn checkpoint_path(&self, stage: Stage) -> PathBuf {
        self.checkpoint_dir().join(format!("{}.safetensors", stage.name()))
    }

    /// Writes `config.toml` (atomically).
    pub fn write_config(&self, config: &TrainConfig) -> Result<()> {
        let text = config.to_toml_string()?;
        write_atomic(&self.config_path(), text.as_bytes())
    }

    /// Reads and validates `config.toml`.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        TrainConfig::from_toml_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Writes `state.json` (atomically).
    pub fn write_state(&self, state: &RunState) -> Result<()> {
        let text = serde_json::to_string_pretty(state).context("cannot write the run state as JSON")?;
        write_atomic(&self.state_path(), text.as_bytes())
    }

    /// Reads `state.json`; a run without one has not started.
    pub fn read_state(&self) -> Result<RunState> {
        let path = self.state_path();
        if !path.exists() {
            return Ok(RunState::default());
        }
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid run state", path.display()))
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one: a
/// temporary file in the same folder is written, flushed to disk, and renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let temporary = folder.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));

    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // The rename itself is durable only once the folder is synced; not every platform
        // can open a folder for that, and the file is complete either way.
        if let Ok(dir) = File::open(folder) {
            dir.sync_all().ok();
        }
        Ok(())
    };
    write().map_err(|error| {
        fs::remove_file(&temporary).ok();
        anyhow::anyhow!("cannot write {}: {error}", path.display())
    })
}
