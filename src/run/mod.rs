//! The run directory: everything needed to reproduce, resume and inspect a training run.
//!
//! ```text
//! runs/hopper-mr/
//!   config.toml            the exact settings (written once, before training)
//!   state.json             finished stages, the stage under way and its step
//!   metrics.jsonl          one JSON object per logged step
//!   checkpoints/*.safetensors
//!   checkpoints/*.previous.safetensors   a multi-seed run's seeds: what the latest save replaced
//!   learning_curves.png
//!   lock                   held by the one process that trains in the directory
//! ```
//!
//! Every file that is rewritten in place (config, state, checkpoints) is written to a temporary
//! file in the same folder and renamed over the old one, so a crash leaves either the old or
//! the new version, never half of one. Each checkpoint also carries the progress state written
//! after it, so a kill between the two resumes from the checkpoint ([`RunDir::resume_state`]).
//!
//! Module map: [`metrics`] (the JSON-lines log), [`checkpoint`] (safetensors checkpoints and
//! the progress state), [`plot`] (learning curves).

pub mod checkpoint;
pub mod metrics;
pub mod plot;
pub mod seeds;

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, CheckpointIdentity, RunState, StageProgress};
pub use metrics::{read_metrics, MetricsWriter};
pub use plot::plot_learning_curves;

use crate::rl::config::TrainConfig;

const CONFIG_FILE: &str = "config.toml";
const STATE_FILE: &str = "state.json";
const METRICS_FILE: &str = "metrics.jsonl";
const CHECKPOINT_DIR: &str = "checkpoints";
const PLOT_FILE: &str = "learning_curves.png";
const LOCK_FILE: &str = "lock";

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
    /// The directory's lock, once this process holds it (see [`RunDir::lock`]).
    lock: Option<Arc<File>>,
}

impl RunDir {
    /// Creates a new run directory (and its parents). An existing folder without a
    /// `config.toml` is fine (empty, or a start killed before it wrote its config); one that
    /// already holds a run is an error, so a run is never overwritten by accident. The run
    /// exists once [`Self::write_config`] has written its settings.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let mut run = Self { path: path.as_ref().to_path_buf(), lock: None };
        if run.path.exists() {
            ensure!(run.path.is_dir(), "run directory {} exists and is not a folder", run.path.display());
        }
        fs::create_dir_all(run.checkpoint_dir())
            .with_context(|| format!("cannot create run directory {}", run.path.display()))?;
        // Locked before looking for a run, so two processes starting at once cannot both
        // find the folder free.
        run.lock()?;
        ensure!(
            !run.config_path().exists(),
            "{} already holds a run; resume it or choose another directory",
            run.path.display()
        );
        Ok(run)
    }

    /// Creates the run directory of a run with `config` and writes its settings, or takes
    /// over one that already holds exactly these settings: a multi-seed start killed before
    /// its `seeds.json` leaves its seeds' folders so, and the same command continues them.
    pub fn create_for(path: impl AsRef<Path>, config: &TrainConfig) -> Result<Self> {
        let path = path.as_ref();
        if path.join(CONFIG_FILE).exists() {
            let mut run = Self::open(path)?;
            run.lock()?;
            ensure!(
                run.read_config()? == *config,
                "{} already holds a run with other settings; choose another directory",
                path.display()
            );
            return Ok(run);
        }
        let run = Self::create(path)?;
        run.write_config(config)?;
        Ok(run)
    }

    /// Opens an existing run directory (one with a `config.toml`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let run = Self { path: path.as_ref().to_path_buf(), lock: None };
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

    /// Takes the directory's lock, held until this `RunDir` and its clones are dropped: one
    /// process trains in a run directory at a time. It is the operating system's lock on the
    /// `lock` file, which ends with the process however it ends, so a killed run never
    /// blocks its resume.
    pub fn lock(&mut self) -> Result<()> {
        if self.lock.is_some() {
            return Ok(());
        }
        let path = self.path.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                let holder = match holder.trim().parse::<u32>() {
                    Ok(pid) => format!("process {pid}"),
                    Err(_) => "another process".to_string(),
                };
                bail!(
                    "{} is in use: {holder} is training in it (it holds {}); wait for it to end or choose another directory",
                    self.path.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => bail!("cannot lock {}: {e}", path.display()),
        }
        // The holder's process id, for the message another process gets.
        file.set_len(0)
            .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
            .with_context(|| format!("cannot write the lock {}", path.display()))?;
        self.lock = Some(Arc::new(file));
        Ok(())
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

    /// Writes the settings of a new run: `config.toml`, then a fresh `state.json` that records
    /// their checksum (both atomically). A kill between the two leaves a run without a state,
    /// which reads as not started.
    pub fn write_config(&self, config: &TrainConfig) -> Result<()> {
        let text = config.to_toml_string()?;
        write_atomic(&self.config_path(), text.as_bytes())?;
        let state = RunState { config_checksum: Some(checksum(text.as_bytes())), ..RunState::default() };
        self.write_state(&state)
    }

    /// Reads and validates `config.toml`.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        TrainConfig::from_toml_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The checksum of the settings (CRC-32 of `config.toml` as written when the run started),
    /// recorded in the run's state and checkpoints to tell them from another run's or edited
    /// settings. It is taken of the file, not of the settings as this version writes them, so
    /// a setting added in a later version (absent from the file, at its default) leaves the
    /// runs of earlier versions resumable.
    pub fn settings_checksum(&self) -> Result<String> {
        let path = self.config_path();
        let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(checksum(&text))
    }

    /// Writes `state.json` (atomically).
    pub fn write_state(&self, state: &RunState) -> Result<()> {
        let text = serde_json::to_string_pretty(state).context("cannot write the run state as JSON")?;
        write_atomic(&self.state_path(), text.as_bytes())
    }

    /// The progress to resume the run with `config` from, checked against the settings and
    /// the checkpoints.
    ///
    /// Each checkpoint carries the progress state written just after it, so when a kill fell
    /// between a checkpoint's rename and `state.json`'s, the checkpoint (the newer of the two)
    /// wins. Settings changed since the run started, a checkpoint of another run, a step past
    /// its stage's total or a state that names a checkpoint it does not find are errors naming
    /// the file.
    pub fn resume_state(&self, config: &TrainConfig) -> Result<RunState> {
        let checksum = self.settings_checksum()?;
        let mut state = self.read_state()?;
        match &state.config_checksum {
            Some(saved) if *saved != checksum => bail!(
                "{}: the settings were changed after the run started (their checksum is {checksum}, {} recorded {saved}); restore them or start a new run",
                self.config_path().display(),
                self.state_path().display()
            ),
            // A run that has not saved anything yet records them now.
            _ => state.config_checksum = Some(checksum.clone()),
        }
        for stage in TRAINED_STAGES {
            let path = self.checkpoint_path(stage);
            if !path.exists() {
                continue;
            }
            // Checkpoints from before they carried their identity are trusted as they are.
            let Some(identity) = Checkpoint::load(&path)?.identity()? else { continue };
            let ours = identity.seed == config.seed && identity.state.config_checksum.as_deref() == Some(&checksum);
            ensure!(
                ours && identity.stage == stage,
                "checkpoint {} is not this run's {stage} checkpoint: it holds {} of seed {} with settings {}, the run is seed {} with settings {checksum}",
                path.display(),
                identity.stage,
                identity.seed,
                identity.state.config_checksum.as_deref().unwrap_or("unknown"),
                config.seed
            );
            if identity.state.position() > state.position() {
                state = identity.state;
            }
        }
        self.check_progress(&state, config)?;
        Ok(state)
    }

    /// Where a seed of a multi-seed run keeps the checkpoint its latest save replaced.
    pub fn previous_checkpoint_path(&self, stage: Stage) -> PathBuf {
        self.checkpoint_dir().join(format!("{}.previous.safetensors", stage.name()))
    }

    /// Keeps the current checkpoint of `stage` as its previous one (a hard link where the file
    /// system has them, else a copy), atomically, before a save replaces it.
    pub fn keep_previous_checkpoint(&self, stage: Stage) -> Result<()> {
        let (current, previous) = (self.checkpoint_path(stage), self.previous_checkpoint_path(stage));
        if !current.exists() {
            // A stage's first save: nothing before it (a previous one is a stale leftover).
            return fs::remove_file(&previous)
                .or_else(ignore_missing)
                .with_context(|| format!("cannot remove {}", previous.display()));
        }
        let temporary =
            self.checkpoint_dir().join(format!(".{}.previous.safetensors.tmp-{}", stage.name(), std::process::id()));
        fs::remove_file(&temporary).or_else(ignore_missing)?;
        fs::hard_link(&current, &temporary)
            .or_else(|_| fs::copy(&current, &temporary).map(|_| ()))
            .and_then(|()| fs::rename(&temporary, &previous))
            .with_context(|| format!("cannot keep {} as {}", current.display(), previous.display()))
    }

    /// Brings this seed of a multi-seed run, found at `ours`, back to `target`, where another
    /// seed is: a kill between the seeds' checkpoints left this one a save ahead. The save's
    /// checkpoint gives way to the one it replaced (or, at a stage's first save, to none).
    pub fn roll_back_to(&self, ours: &RunState, target: &RunState) -> Result<RunState> {
        let cannot = || {
            anyhow::anyhow!(
                "{} has come further than the other seeds of its run and cannot go back to their step; resume the seeds one by one",
                self.path.display()
            )
        };
        // The stage of the save that went ahead: the one whose checkpoint holds `ours`.
        let mut ahead = None;
        for stage in TRAINED_STAGES {
            let path = self.checkpoint_path(stage);
            if path.exists() && Checkpoint::load(&path)?.identity()?.is_some_and(|id| id.state == *ours) {
                ahead = Some(stage);
            }
        }
        let stage = ahead.ok_or_else(cannot)?;
        let (current, previous) = (self.checkpoint_path(stage), self.previous_checkpoint_path(stage));
        let started = target.is_completed(stage) || target.resume_step(stage) > 0;
        let state = if started {
            let kept = match previous.exists() {
                true => Checkpoint::load(&previous)?.identity()?,
                false => None,
            };
            let kept = kept.filter(|id| id.state.position() == target.position()).ok_or_else(cannot)?;
            fs::rename(&previous, &current).with_context(|| format!("cannot restore {}", previous.display()))?;
            kept.state
        } else {
            fs::remove_file(&current).with_context(|| format!("cannot remove {}", current.display()))?;
            RunState { config_checksum: Some(self.settings_checksum()?), ..target.clone() }
        };
        self.write_state(&state)?;
        Ok(state)
    }

    /// Removes the temporary files of writes a crash cut short (see [`write_atomic`]). Only
    /// for the run's one writer, which holds its lock: another's would be in use.
    pub fn remove_temporaries(&self) -> Result<()> {
        remove_temporaries_in(&self.path)?;
        remove_temporaries_in(&self.checkpoint_dir())
    }

    /// The state's finished stages have their final checkpoints, and its stage under way is
    /// within its steps and its checkpoint holds that step.
    fn check_progress(&self, state: &RunState, config: &TrainConfig) -> Result<()> {
        for &stage in state.completed.iter().filter(|stage| TRAINED_STAGES.contains(stage)) {
            let path = self.checkpoint_path(stage);
            if let Some(saved) = Checkpoint::load(&path)?.identity()? {
                ensure!(
                    saved.state.is_completed(stage),
                    "{}: the {stage} stage is done, but {} holds its step {}, not its end",
                    self.state_path().display(),
                    path.display(),
                    saved.step
                );
            }
        }
        let Some(progress) = state.current else { return Ok(()) };
        let total = stage_steps(config, progress.stage);
        ensure!(
            progress.step <= total,
            "{}: {} step {} is past the stage's {total} steps in {}",
            self.state_path().display(),
            progress.stage,
            progress.step,
            self.config_path().display()
        );
        if progress.step > 0 && TRAINED_STAGES.contains(&progress.stage) {
            let path = self.checkpoint_path(progress.stage);
            let saved = Checkpoint::load(&path)?.identity()?;
            if let Some(saved) = saved.filter(|saved| saved.step != progress.step) {
                bail!(
                    "{}: {} step {} is not the step of {}, which holds step {}",
                    self.state_path().display(),
                    progress.stage,
                    progress.step,
                    path.display(),
                    saved.step
                );
            }
        }
        Ok(())
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

/// The stages that save checkpoints.
const TRAINED_STAGES: [Stage; 3] = [Stage::Behaviour, Stage::Critic, Stage::Policy];

/// The optimisation steps of a stage under `config` (0 for those without any).
pub fn stage_steps(config: &TrainConfig, stage: Stage) -> u64 {
    match stage {
        Stage::Behaviour => config.behaviour.steps,
        Stage::Critic => config.critic.steps,
        Stage::Policy => config.policy.steps,
        Stage::Support | Stage::Evaluation => 0,
    }
}

/// CRC-32 of `bytes` as 8 hex digits: catches corruption, not tampering.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// Removes [`write_atomic`]'s temporaries left in `dir` by writes a crash cut short; for the
/// one writer of the files there.
pub fn remove_temporaries_in(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        if is_temporary(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// `Ok` for a file that is not there: removing it is then done.
fn ignore_missing(error: std::io::Error) -> std::io::Result<()> {
    match error.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(error),
    }
}

/// Whether a file name is one of [`write_atomic`]'s temporaries (`.<name>.tmp-<pid>`).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.rsplit_once(".tmp-").is_some_and(|(_, pid)| pid.parse::<u32>().is_ok())
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
