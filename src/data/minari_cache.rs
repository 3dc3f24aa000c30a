//! Minari datasets by name: `namespace/name-vN` in the local cache that `minari` writes
//! (`$MINARI_DATASETS_PATH`, else `~/.minari/datasets`, then `<id>/data/main_data.hdf5`), and
//! the `metadata.json` beside each `main_data.hdf5`: the dataset's id, the environment to
//! evaluate in and its reference scores. Nothing is downloaded.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::Value;

/// The file `minari` writes beside `main_data.hdf5`.
pub const METADATA_FILE: &str = "metadata.json";

/// What qipo takes from a `metadata.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub file: PathBuf,
    pub dataset_id: Option<String>,
    /// The gymnasium id the data were collected in (`env_spec`), e.g. `Hopper-v5`.
    pub env_id: Option<String>,
    /// The gymnasium id to evaluate in (`eval_env_spec`, else `env_spec`, as
    /// `MinariDataset.recover_environment(eval_env=True)` chooses).
    pub eval_env_id: Option<String>,
    /// The evaluation environment's keyword arguments other than the defaults, if any:
    /// qipo's environments take none, so a run would evaluate in another task.
    pub eval_env_kwargs: Option<String>,
    /// `(ref_min_score, ref_max_score)`, when both are there.
    pub references: Option<(f64, f64)>,
}

/// Whether `text` is a Minari dataset id with a namespace, `namespace/name-vN` (Minari's own
/// pattern, its parts of letters, digits, `-` and `_`), rather than a file name.
pub fn is_dataset_id(text: &str) -> bool {
    let Some((namespace, name)) = text.rsplit_once('/') else { return false };
    let part = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let versioned = name.rsplit_once("-v").is_some_and(|(base, version)| {
        part(base) && !version.is_empty() && version.chars().all(|c| c.is_ascii_digit())
    });
    versioned && namespace.split('/').all(part)
}

/// The local cache's root: `$MINARI_DATASETS_PATH`, else `~/.minari/datasets`, as `minari`.
pub fn datasets_root() -> PathBuf {
    match std::env::var_os("MINARI_DATASETS_PATH") {
        Some(path) => PathBuf::from(path),
        None => home().join(".minari").join("datasets"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default()
}

/// The `main_data.hdf5` of dataset `id` in the local cache, or a one-line error saying where
/// it looked and how to download it.
pub fn resolve(id: &str) -> Result<PathBuf> {
    let file = datasets_root().join(id).join("data").join("main_data.hdf5");
    if file.is_file() {
        return Ok(file);
    }
    let arrow = file.with_file_name("main_data.arrow");
    if arrow.exists() {
        bail!(
            "{id}: {} holds the dataset in Minari's Arrow format; qipo reads its HDF5 format \
             (recreate it with data_format=\"hdf5\")",
            arrow.parent().unwrap_or(&arrow).display()
        );
    }
    bail!(
        "{id}: not in the local Minari cache (looked for {}; set MINARI_DATASETS_PATH to another \
         cache, or download it with `minari download {id}`)",
        file.display()
    )
}

/// The `metadata.json` beside a `main_data.hdf5`, if there is one.
pub fn metadata_beside(data_file: &Path) -> Option<PathBuf> {
    let file = data_file.with_file_name(METADATA_FILE);
    file.is_file().then_some(file)
}

/// Reads a `metadata.json`; errors are one line naming the file.
pub fn read_metadata(file: &Path) -> Result<Metadata> {
    parse_metadata(file).map_err(|err| anyhow!("{}: {err:#}", file.display()))
}

fn parse_metadata(file: &Path) -> Result<Metadata> {
    let text = std::fs::read_to_string(file).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow!("not found: a Minari dataset keeps its metadata.json beside main_data.hdf5")
        }
        _ => anyhow!("cannot read: {err}"),
    })?;
    let json: Value = serde_json::from_str(&text).context("not valid JSON")?;
    let fields = json.as_object().context("not a JSON object")?;
    let string = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_string);
    let number = |key: &str| -> Result<Option<f64>> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_f64().map(Some).with_context(|| format!("'{key}' is {value}, not a number")),
        }
    };
    let env = spec(fields.get("env_spec"), "env_spec")?;
    let eval_env = spec(fields.get("eval_env_spec"), "eval_env_spec")?.or_else(|| env.clone());
    let references = match (number("ref_min_score")?, number("ref_max_score")?) {
        (Some(min), Some(max)) => {
            if !(min.is_finite() && max.is_finite() && max != min) {
                bail!("ref_min_score {min} and ref_max_score {max} do not span a range");
            }
            Some((min, max))
        }
        _ => None,
    };
    Ok(Metadata {
        file: file.to_path_buf(),
        dataset_id: string("dataset_id"),
        env_id: env.as_ref().map(|spec| spec.id.clone()),
        eval_env_id: eval_env.as_ref().map(|spec| spec.id.clone()),
        eval_env_kwargs: eval_env.and_then(|spec| spec.kwargs),
        references,
    })
}

/// A gymnasium `EnvSpec` as Minari stores it: a JSON text inside the JSON.
#[derive(Clone)]
struct Spec {
    id: String,
    kwargs: Option<String>,
}

fn spec(value: Option<&Value>, key: &str) -> Result<Option<Spec>> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text,
        Some(other) => bail!("'{key}' is {other}, not a gymnasium EnvSpec in JSON"),
    };
    let spec: Value =
        serde_json::from_str(text).with_context(|| format!("'{key}' is not a gymnasium EnvSpec in JSON"))?;
    let id = spec.get("id").and_then(Value::as_str).with_context(|| format!("'{key}' has no 'id'"))?;
    let kwargs = spec.get("kwargs").and_then(Value::as_object).filter(|kwargs| !kwargs.is_empty());
    Ok(Some(Spec { id: id.to_string(), kwargs: kwargs.map(|kwargs| Value::Object(kwargs.clone()).to_string()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_from_file_names() {
        assert!(is_dataset_id("mujoco/hopper/medium-v0"));
        assert!(is_dataset_id("D4RL/door/human-v2"));
        assert!(is_dataset_id("mine/tiny_set-v12"));
        assert!(!is_dataset_id("hopper-medium-v2"), "a D4RL name has no namespace");
        assert!(!is_dataset_id("data/hopper-medium-replay-v2.hdf5"));
        assert!(!is_dataset_id("mujoco/hopper/medium"), "no version");
        assert!(!is_dataset_id("/mujoco/hopper/medium-v0"), "an absolute path");
        assert!(!is_dataset_id("mujoco//medium-v0"));
    }
}
