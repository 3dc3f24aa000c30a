//! Minari's HDF5 layout (`main_data.hdf5`): one group per episode, `episode_0`, `episode_1`, ...
//!
//! Each episode of T steps holds `observations` (T + 1, obs_dim), the last row being the state
//! after the final step, and `actions` (T, act_dim), `rewards`, `terminations`, `truncations`
//! (T,). Other members (`infos`) and attributes are ignored.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hdf5::{Group, LocationType};

use super::arrays;
use super::checks;
use super::dataset::{done_flags, Dataset, Episode, EpisodeEnd, Format};
use super::references::References;

const EPISODE_PREFIX: &str = "episode_";

/// The episode groups of a file's root, ordered by id (episode_10 after episode_9).
pub fn episode_names(root: &Group) -> Result<Vec<String>> {
    let mut episodes: Vec<(u64, String)> = root
        .member_names()
        .context("cannot list the members of the file's root")?
        .into_iter()
        .filter_map(|name| {
            let id = name.strip_prefix(EPISODE_PREFIX)?.parse().ok()?;
            let is_group = matches!(root.loc_type_by_name(&name), Ok(LocationType::Group));
            is_group.then_some((id, name))
        })
        .collect();
    episodes.sort_unstable();
    Ok(episodes.into_iter().map(|(_, name)| name).collect())
}

pub fn read(root: &Group, episode_names: &[String]) -> Result<Dataset> {
    let mut dataset = Dataset {
        source: PathBuf::new(),
        format: Format::Minari,
        env: None,
        id: None,
        eval_env: None,
        references: References::D4rl,
        obs_dim: 0,
        act_dim: 0,
        observations: Vec::new(),
        actions: Vec::new(),
        rewards: Vec::new(),
        next_observations: Vec::new(),
        terminals: Vec::new(),
        episodes: Vec::with_capacity(episode_names.len()),
        warnings: Vec::new(),
    };
    for name in episode_names {
        let group = root.group(name).with_context(|| format!("cannot open group '{name}'"))?;
        let episode = read_episode(&group, name)?;
        append_episode(&mut dataset, episode, name)?;
    }
    Ok(dataset)
}

/// One episode's arrays, checked for consistent lengths.
struct EpisodeArrays {
    observations: arrays::Matrix,
    actions: arrays::Matrix,
    rewards: Vec<f32>,
    terminations: Vec<bool>,
    /// Read from the flags of the last step; truncations matter only here, since a timeout is
    /// not a terminal for the TD target.
    ending: EpisodeEnd,
}

fn read_episode(group: &Group, name: &str) -> Result<EpisodeArrays> {
    reject_dict_observations(group, name)?;
    let observations = arrays::read_matrix(group, "observations")?;
    let actions = arrays::read_matrix(group, "actions")?;
    let rewards = arrays::read_vector(group, "rewards")?;
    let terminations = arrays::read_flags(group, "terminations")?;
    let truncations = arrays::read_flags(group, "truncations")?;

    let steps = actions.rows;
    if steps == 0 {
        bail!("'{name}' is empty: 'actions' has 0 rows");
    }
    if observations.rows != steps + 1 {
        bail!(
            "length mismatch: '{name}/observations' has {} rows, expected {} (one more than \
             '{name}/actions')",
            observations.rows,
            steps + 1
        );
    }
    checks::ensure_rows(
        (&format!("{name}/actions"), steps),
        &[
            (&format!("{name}/rewards"), rewards.len()),
            (&format!("{name}/terminations"), terminations.len()),
            (&format!("{name}/truncations"), truncations.len()),
        ],
    )?;
    let last = steps - 1;
    let ending = if terminations[last] {
        EpisodeEnd::Terminal
    } else if truncations[last] {
        EpisodeEnd::Timeout
    } else {
        EpisodeEnd::Unfinished
    };
    Ok(EpisodeArrays { observations, actions, rewards, terminations, ending })
}

/// Minari stores dict observation spaces (e.g. antmaze's observation / achieved_goal /
/// desired_goal) as a group of arrays; flattening them needs the space's key order, which the
/// file does not record, so refuse rather than guess.
fn reject_dict_observations(group: &Group, name: &str) -> Result<()> {
    let Ok(observations) = group.group("observations") else {
        return Ok(());
    };
    let keys = observations.member_names().unwrap_or_default().join(", ");
    bail!(
        "'{name}/observations' is a dict of arrays ({keys}); only plain array observations \
         are supported"
    );
}

fn append_episode(dataset: &mut Dataset, episode: EpisodeArrays, name: &str) -> Result<()> {
    let EpisodeArrays { observations, actions, rewards, terminations, ending } = episode;
    if dataset.episodes.is_empty() {
        dataset.obs_dim = observations.columns;
        dataset.act_dim = actions.columns;
    } else if observations.columns != dataset.obs_dim || actions.columns != dataset.act_dim {
        bail!(
            "'{name}' has {} observation and {} action columns, earlier episodes have {} and {}",
            observations.columns,
            actions.columns,
            dataset.obs_dim,
            dataset.act_dim
        );
    }

    let steps = actions.rows;
    let obs_dim = observations.columns;
    let start = dataset.len();
    dataset.episodes.push(Episode {
        start,
        end: start + steps,
        steps,
        total_reward: rewards.iter().map(|&r| f64::from(r)).sum(),
        ending,
    });
    dataset.observations.extend_from_slice(&observations.values[..steps * obs_dim]);
    dataset.next_observations.extend_from_slice(&observations.values[obs_dim..]);
    dataset.actions.extend_from_slice(&actions.values);
    dataset.rewards.extend_from_slice(&rewards);
    dataset.terminals.extend(done_flags(&terminations));
    Ok(())
}
