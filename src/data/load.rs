//! Opening a dataset file: its layout, its environment, its warnings, and errors that name it.

use std::io::ErrorKind;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use hdf5::MinorErrorCode;

use super::arrays::read_string_attribute;
use super::checks;
use super::dataset::{Dataset, Format};
use super::env::Env;
use super::minari_cache::{self, Metadata};
use super::references::References;
use super::{d4rl, minari, ogbench};

/// File attributes that may name the environment: ours and D4RL's (`env_id`, `env_name`),
/// older Minari's (`dataset_id`, and `env_spec`, a JSON text holding the gymnasium id).
const ENV_ATTRIBUTES: [&str; 4] = ["env_id", "env_name", "dataset_id", "env_spec"];

impl Dataset {
    /// Reads a dataset named by a file, by a Minari dataset id (`mujoco/hopper/medium-v0`,
    /// from the local cache, which must hold its `metadata.json`), or by an OGBench
    /// single-task name (`[DIR/]antmaze-large-navigate-singletask-v0`). An existing file wins
    /// over a name of the same spelling.
    pub fn open(name: impl AsRef<Path>) -> Result<Dataset> {
        let name = name.as_ref();
        let text = name.to_string_lossy();
        if !name.exists() && ogbench::is_singletask_name(name) {
            return ogbench::open(name);
        }
        if name.exists() || !minari_cache::is_dataset_id(&text) {
            return Dataset::load(name);
        }
        let file = minari_cache::resolve(&text)?;
        let metadata = minari_cache::read_metadata(&file.with_file_name(minari_cache::METADATA_FILE))?;
        let mut dataset = Dataset::load(&file)?;
        apply_metadata(&mut dataset, metadata);
        Ok(dataset)
    }

    /// Reads a D4RL (v2 layout) or Minari HDF5 file into transitions; a Minari file's
    /// `metadata.json`, when it has one beside it, gives its environment and references.
    ///
    /// The environment is taken from the file's attributes, else from its name or path; set
    /// [`Dataset::env`] afterwards to override it. Errors are one line, `<file>: <problem>`.
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let mut dataset = load_file(path).map_err(|err| {
            // HDF5's own messages may span lines; the contract is one line per error.
            let problem = format!("{err:#}").replace(['\n', '\r'], " ");
            anyhow!("{}: {problem}", path.display())
        })?;
        if dataset.format == Format::Minari {
            if let Some(file) = minari_cache::metadata_beside(path) {
                apply_metadata(&mut dataset, minari_cache::read_metadata(&file)?);
            }
        }
        Ok(dataset)
    }
}

/// What a Minari `metadata.json` says: the dataset's id, the environment (it wins over the
/// path's folder names) and the references, or a warning that there are none.
fn apply_metadata(dataset: &mut Dataset, metadata: Metadata) {
    let named = metadata.eval_env_id.as_deref().or(metadata.env_id.as_deref());
    if let Some(env) = named.and_then(Env::find_in) {
        dataset.env = Some(env);
    }
    dataset.id = metadata.dataset_id.clone();
    dataset.eval_env = metadata.eval_env_id.clone();
    if let Some(kwargs) = &metadata.eval_env_kwargs {
        dataset.warnings.push(format!(
            "{}: the evaluation environment is made with {kwargs}, which qipo's environments do not take",
            metadata.file.display()
        ));
    }
    dataset.references = match metadata.references {
        Some((min, max)) => References::Minari { min, max, file: metadata.file },
        None => {
            dataset.warnings.push(format!(
                "{}: no ref_min_score and ref_max_score: scores are unnormalised returns",
                metadata.file.display()
            ));
            References::Unnormalised { file: metadata.file }
        }
    };
}

fn load_file(path: &Path) -> Result<Dataset> {
    let file = open_hdf5(path)?;
    let mut dataset = if d4rl::looks_like_d4rl(&file) {
        d4rl::read(&file)?
    } else {
        let episode_names = minari::episode_names(&file)?;
        if episode_names.is_empty() {
            bail!(
                "neither a D4RL file (no 'observations' array at the root) nor a Minari file \
                 (no 'episode_<n>' groups)"
            );
        }
        minari::read(&file, &episode_names)?
    };
    dataset.source = path.to_path_buf();
    dataset.env = ENV_ATTRIBUTES
        .iter()
        .filter_map(|name| read_string_attribute(&file, name))
        .find_map(|text| Env::find_in(&text))
        .or_else(|| Env::find_in_path(path));
    if let Some(warning) = checks::action_bound_warning("actions", &dataset.actions, dataset.act_dim) {
        dataset.warnings.push(warning);
    }
    Ok(dataset)
}

/// Opens the file, telling apart the usual ways it can fail before any data is read.
fn open_hdf5(path: &Path) -> Result<hdf5::File> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == ErrorKind::NotFound => bail!("file not found"),
        Err(err) => bail!("cannot read the file: {err}"),
    };
    if metadata.is_dir() {
        bail!("is a directory, not an HDF5 file");
    }
    if metadata.len() == 0 {
        bail!("empty file (0 bytes), not an HDF5 file");
    }
    hdf5::File::open(path).map_err(|err| {
        if err.contains_minor(MinorErrorCode::Truncated) {
            anyhow!("truncated HDF5 file ({err})")
        } else if err.contains_minor(MinorErrorCode::NotHdf5) {
            anyhow!("not an HDF5 file")
        } else {
            anyhow!("cannot open as HDF5: {err}")
        }
    })
}
