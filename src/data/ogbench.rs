//! OGBench's single-task datasets by name: `antmaze-large-navigate-singletask-task1-v0` reads
//! `~/.ogbench/data/antmaze-large-navigate-v0.npz` (or `DIR/antmaze-large-navigate-v0.npz` for
//! `DIR/antmaze-large-navigate-singletask-task1-v0`) with OGBench's own loader and the rewards
//! and masks its `relabel_dataset` gives for the task, in a Python subprocess
//! (`ogbench_load.py`, embedded in the binary). Nothing is downloaded.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context as _, Result};

use super::dataset::{Dataset, Episode, EpisodeEnd, Format};
use super::references::References;
use crate::envs::served::{spawn_python, stderr_tail};
use crate::envs::OgTask;

const LOADER: &str = include_str!("ogbench_load.py");
const MAGIC: &[u8; 4] = b"QOD1";

/// Whether the last part of `name` is a single-task name (`...-singletask-...`) rather than a
/// file.
pub fn is_singletask_name(name: &Path) -> bool {
    let Some(file_name) = name.file_name().map(|n| n.to_string_lossy().to_lowercase()) else { return false };
    !file_name.contains('.') && file_name.split('-').any(|word| word == "singletask")
}

/// OGBench's default data folder, `~/.ogbench/data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".ogbench").join("data")
}

/// Reads the single-task dataset `name`, one-line errors naming it or its file.
pub fn open(name: &Path) -> Result<Dataset> {
    let file_name = name.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (task, stem) = OgTask::parse(&file_name).map_err(|err| anyhow!("{}: {err}", name.display()))?;
    let Some(stem) = stem else {
        bail!(
            "{}: names an environment, not a dataset: put the data's kind before 'singletask', e.g. {}-navigate-singletask-v0",
            name.display(),
            task.env.name()
        );
    };
    let dir = match name.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => default_data_dir(),
    };
    let file = dir.join(format!("{stem}.npz"));
    if !file.is_file() {
        bail!(
            "{}: no OGBench data at {} (download it with `python3 -c \"import ogbench; \
             ogbench.download_datasets(['{stem}'])\"`, or name the folder that holds it: DIR/{file_name})",
            name.display(),
            file.display()
        );
    }
    let mut dataset = read(&file, task).map_err(|err| anyhow!("{}: {err:#}", file.display()))?;
    dataset.id = Some(file_name);
    dataset.source = file;
    Ok(dataset)
}

/// The transitions of `file` relabelled for `task`, as OGBench's loader gives them.
fn read(file: &Path, task: OgTask) -> Result<Dataset> {
    let path = file.to_string_lossy();
    let (mut child, stderr) = spawn_python(LOADER, &[&path, &task.to_string()], "OGBench's loader")?;
    drop(child.stdin.take());
    let mut bytes = Vec::new();
    child.stdout.take().expect("piped stdout").read_to_end(&mut bytes).context("reading OGBench's loader")?;
    let status = child.wait()?;
    let errors = stderr.join().unwrap_or_default();
    if !status.success() {
        let hint =
            if errors.contains("No module named") { " (run `bash .ci/setup.sh`: it installs ogbench)" } else { "" };
        bail!("{}{hint}", stderr_tail(&errors, 1));
    }
    parse(&bytes, task)
}

fn parse(bytes: &[u8], task: OgTask) -> Result<Dataset> {
    ensure!(bytes.len() >= 20 && &bytes[..4] == MAGIC, "OGBench's loader answered no data");
    let rows = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes")) as usize;
    let obs_dim = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let act_dim = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
    let widths = [obs_dim, act_dim, obs_dim, 1, 1, 1];
    let expected = 20 + 4 * rows * widths.iter().sum::<usize>();
    ensure!(bytes.len() == expected, "OGBench's loader sent {} bytes, expected {expected}", bytes.len());
    let mut arrays = Vec::with_capacity(widths.len());
    let mut at = 20;
    for width in widths {
        let end = at + 4 * rows * width;
        arrays.push(
            bytes[at..end]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect::<Vec<f32>>(),
        );
        at = end;
    }
    let [observations, actions, next_observations, rewards, masks, trajectory_ends] =
        <[Vec<f32>; 6]>::try_from(arrays).expect("six arrays");
    // OGBench's mask is 0 where the task is solved: the TD target stops there.
    let terminals: Vec<f32> = masks.iter().map(|&mask| 1.0 - mask).collect();
    let episodes = episodes(&rewards, &terminals, &trajectory_ends);
    Ok(Dataset {
        source: PathBuf::new(),
        format: Format::OgBench,
        env: None,
        id: None,
        eval_env: Some(task.to_string()),
        references: References::OgBench,
        obs_dim,
        act_dim,
        observations,
        actions,
        rewards,
        next_observations,
        terminals,
        episodes,
        warnings: Vec::new(),
    })
}

/// The trajectories: each ends where OGBench's `terminals` is 1, in success when its last
/// transition solves the task.
fn episodes(rewards: &[f32], terminals: &[f32], trajectory_ends: &[f32]) -> Vec<Episode> {
    let mut episodes = Vec::new();
    let mut start = 0;
    for row in 0..rewards.len() {
        if trajectory_ends[row] == 0.0 && row + 1 < rewards.len() {
            continue;
        }
        let end = row + 1;
        let ending = if terminals[row] != 0.0 { EpisodeEnd::Terminal } else { EpisodeEnd::Timeout };
        let total_reward = rewards[start..end].iter().map(|&r| f64::from(r)).sum();
        episodes.push(Episode { start, end, steps: end - start, total_reward, ending });
        start = end;
    }
    episodes
}
