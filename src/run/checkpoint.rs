//! What a resumed run needs: safetensors checkpoints (named f32 tensors plus string metadata
//! such as the stage, step, RNG stream counters and network specs as JSON) and the run's
//! progress state (`state.json`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{write_atomic, Stage};

/// The metadata entry holding a checkpoint's checksum (see [`Checkpoint::checksum`]).
const CHECKSUM: &str = "checksum.crc32";

/// Named f32 tensors and string metadata, saved as one safetensors file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Each tensor's shape and its values in row-major order.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub meta: BTreeMap<String, String>,
    /// The file it was loaded from, named in errors; `None` for one built in memory.
    pub source: Option<PathBuf>,
}

impl Checkpoint {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tensor; its values must fill its shape.
    pub fn insert(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<()> {
        let elements: usize = shape.iter().product();
        ensure!(
            elements == values.len(),
            "tensor '{name}' of shape {shape:?} needs {elements} values, got {}",
            values.len()
        );
        self.tensors.insert(name.to_string(), (shape.to_vec(), values));
        Ok(())
    }

    /// The values of a tensor that must hold exactly `expected_len` of them.
    pub fn tensor(&self, name: &str, expected_len: usize) -> Result<&[f32]> {
        let (_, values) = self.tensors.get(name).ok_or_else(|| self.error(format!("has no tensor '{name}'")))?;
        if values.len() != expected_len {
            return Err(self.error(format!(
                "tensor '{name}' has {} values, expected {expected_len} (was it saved with other network sizes?)",
                values.len()
            )));
        }
        Ok(values)
    }

    pub fn set_meta(&mut self, key: &str, value: impl Into<String>) {
        self.meta.insert(key.to_string(), value.into());
    }

    /// A metadata entry that must be present.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.meta.get(key).map(String::as_str).ok_or_else(|| self.error(format!("has no metadata '{key}'")))
    }

    /// Stores a value (a network spec, RNG counters) as JSON metadata.
    pub fn set_meta_json<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|e| anyhow!("cannot store metadata '{key}' as JSON: {e}"))?;
        self.set_meta(key, json);
        Ok(())
    }

    /// Reads a value stored with [`Checkpoint::set_meta_json`].
    pub fn meta_json<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.meta(key)?).map_err(|e| self.error(format!("metadata '{key}' is not valid: {e}")))
    }

    /// The safetensors encoding (little-endian f32 data, metadata in the header).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let data: Vec<(&str, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, values))| {
                (name.as_str(), shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
            })
            .collect();
        let views = data
            .iter()
            .map(|(name, shape, bytes)| Ok((*name, TensorView::new(Dtype::F32, shape.clone(), bytes)?)))
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| self.error(format!("cannot be encoded: {e}")))?;
        let mut meta: HashMap<String, String> = self.meta.clone().into_iter().collect();
        meta.insert(CHECKSUM.to_string(), self.checksum());
        safetensors::serialize(views, Some(meta)).map_err(|e| self.error(format!("cannot be encoded: {e}")))
    }

    /// Decodes a safetensors file's bytes; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<Self> {
        let name = source.display();
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| anyhow!("checkpoint {name} is not a valid safetensors file ({e})"))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| anyhow!("checkpoint {name} is not a valid safetensors file ({e})"))?;
        let mut checkpoint = Checkpoint { source: Some(source.to_path_buf()), ..Self::default() };
        checkpoint.meta = header.metadata().clone().unwrap_or_default().into_iter().collect();
        for (tensor_name, view) in file.iter() {
            if view.dtype() != Dtype::F32 {
                bail!("checkpoint {name}: tensor '{tensor_name}' is {:?}, expected F32", view.dtype());
            }
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            checkpoint.tensors.insert(tensor_name.to_string(), (view.shape().to_vec(), values));
        }
        // Files from before checkpoints carried a checksum are read as they are.
        if let Some(saved) = checkpoint.meta.remove(CHECKSUM) {
            let actual = checkpoint.checksum();
            ensure!(
                saved == actual,
                "checkpoint {name} is corrupted: its contents have checksum {actual}, it was saved with {saved}"
            );
        }
        Ok(checkpoint)
    }

    /// CRC-32 of every tensor (name, shape, values) and metadata entry, in name order: saved
    /// in the file and verified when it is read, so a flipped bit is an error, not a
    /// different run.
    fn checksum(&self) -> String {
        let mut hasher = crc32fast::Hasher::new();
        for (name, (shape, values)) in &self.tensors {
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            for &extent in shape {
                hasher.update(&(extent as u64).to_le_bytes());
            }
            for value in values {
                hasher.update(&value.to_le_bytes());
            }
        }
        for (key, value) in self.meta.iter().filter(|(key, _)| key.as_str() != CHECKSUM) {
            hasher.update(key.as_bytes());
            hasher.update(&[0]);
            hasher.update(value.as_bytes());
            hasher.update(&[0]);
        }
        format!("{:08x}", hasher.finalize())
    }

    /// Writes the checkpoint so that a crash never leaves half of it (see [`write_atomic`]).
    pub fn save_atomic(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!("checkpoint {} does not exist", path.display()),
            _ => anyhow!("cannot read checkpoint {}: {e}", path.display()),
        })?;
        Self::from_bytes(&bytes, path)
    }

    fn error(&self, what: String) -> anyhow::Error {
        match &self.source {
            Some(path) => anyhow!("checkpoint {} {what}", path.display()),
            None => anyhow!("checkpoint {what}"),
        }
    }
}

/// What a checkpoint of a training stage is: written into its metadata, so that resume can
/// tell a newer checkpoint from an older `state.json`, and refuse one of another run.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointIdentity {
    pub stage: Stage,
    /// Steps of the stage saved in it.
    pub step: u64,
    /// The seed of the run that wrote it.
    pub seed: u64,
    /// The progress state that holds once the checkpoint is saved (stage done or under way
    /// at `step`, metrics records, the settings' checksum).
    pub state: RunState,
}

const IDENTITY_STAGE: &str = "run.stage";
const IDENTITY_STEP: &str = "run.step";
const IDENTITY_SEED: &str = "run.seed";
const IDENTITY_STATE: &str = "run.state";

impl Checkpoint {
    /// Records what the checkpoint is (see [`CheckpointIdentity`]).
    pub fn set_identity(&mut self, identity: &CheckpointIdentity) -> Result<()> {
        self.set_meta(IDENTITY_STAGE, identity.stage.name());
        self.set_meta(IDENTITY_STEP, identity.step.to_string());
        self.set_meta(IDENTITY_SEED, identity.seed.to_string());
        self.set_meta_json(IDENTITY_STATE, &identity.state)
    }

    /// What the checkpoint is; `None` for one written before checkpoints carried it.
    pub fn identity(&self) -> Result<Option<CheckpointIdentity>> {
        if !self.meta.contains_key(IDENTITY_STATE) {
            return Ok(None);
        }
        let stage = self.meta(IDENTITY_STAGE)?;
        let stage = Stage::from_name(stage).ok_or_else(|| self.error(format!("names an unknown stage '{stage}'")))?;
        let number = |key: &str| -> Result<u64> {
            let text = self.meta(key)?;
            text.parse().map_err(|_| self.error(format!("metadata '{key}' is not a number: '{text}'")))
        };
        Ok(Some(CheckpointIdentity {
            stage,
            step: number(IDENTITY_STEP)?,
            seed: number(IDENTITY_SEED)?,
            state: self.meta_json(IDENTITY_STATE)?,
        }))
    }
}

/// How far a run has come, kept in `state.json` and rewritten after every checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Stages whose results are saved, in the order they finished.
    pub completed: Vec<Stage>,
    /// The stage under way and the step of its latest checkpoint.
    pub current: Option<StageProgress>,
    /// Set when the whole run is done: resuming it then does nothing.
    pub finished: bool,
    /// Records in metrics.jsonl when this state was saved: a resumed run drops later ones.
    #[serde(default)]
    pub metrics_records: usize,
    /// The checksum of the settings the run started with (see [`super::RunDir::settings_checksum`]):
    /// resuming with others is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_checksum: Option<String>,
}

/// A stage under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    pub stage: Stage,
    /// Steps done, all of them saved in the stage's checkpoint.
    pub step: u64,
}

impl RunState {
    pub fn is_completed(&self, stage: Stage) -> bool {
        self.completed.contains(&stage)
    }

    /// The step to resume `stage` from: its saved step if it is under way, else 0.
    pub fn resume_step(&self, stage: Stage) -> u64 {
        self.current.filter(|progress| progress.stage == stage).map_or(0, |progress| progress.step)
    }

    /// Records that `stage` has saved its checkpoint at `step`.
    pub fn set_progress(&mut self, stage: Stage, step: u64) {
        self.current = Some(StageProgress { stage, step });
    }

    /// Records that `stage` is done (its final results saved).
    pub fn complete(&mut self, stage: Stage) {
        if !self.is_completed(stage) {
            self.completed.push(stage);
        }
        if self.current.is_some_and(|progress| progress.stage == stage) {
            self.current = None;
        }
    }

    /// Orders states by how far they have come: finished, then stages done, then steps.
    pub fn position(&self) -> (bool, usize, u64) {
        (self.finished, self.completed.len(), self.current.map_or(0, |progress| progress.step))
    }

    /// Marks the whole run as done.
    pub fn finish(&mut self) {
        self.current = None;
        self.finished = true;
    }
}
