//! The D4RL v2 layout: flat arrays at the file's root.
//!
//! `observations` (N, obs_dim), `actions` (N, act_dim), `rewards` (N,), `terminals` (N,),
//! `timeouts` (N,) and, in most files, `next_observations` (N, obs_dim). Everything else
//! (`infos/*`, `metadata/*`) is ignored.

use std::path::PathBuf;

use anyhow::{bail, Result};
use hdf5::Group;

use super::arrays::{self, Matrix};
use super::checks;
use super::dataset::{done_flags, Dataset, Episode, EpisodeEnd, Format};
use super::references::References;

/// Whether a file's root looks like D4RL (an `observations` array at the top).
pub fn looks_like_d4rl(root: &Group) -> bool {
    ["observations", "actions", "rewards", "terminals"].iter().any(|name| root.link_exists(name))
}

/// The step-level arrays of the file, validated but not yet turned into transitions.
struct Steps {
    observations: Matrix,
    actions: Matrix,
    rewards: Vec<f32>,
    terminals: Vec<bool>,
    timeouts: Vec<bool>,
    next_observations: Option<Matrix>,
}

pub fn read(root: &Group) -> Result<Dataset> {
    let mut warnings = Vec::new();
    let steps = read_steps(root, &mut warnings)?;
    let episodes = split_episodes(&steps.rewards, &steps.terminals, &steps.timeouts);
    let obs_dim = steps.observations.columns;
    let act_dim = steps.actions.columns;
    let dataset = match steps.next_observations {
        Some(next_observations) => Dataset {
            source: PathBuf::new(),
            format: Format::D4rl,
            env: None,
            id: None,
            eval_env: None,
            references: References::D4rl,
            obs_dim,
            act_dim,
            observations: steps.observations.values,
            actions: steps.actions.values,
            rewards: steps.rewards,
            next_observations: next_observations.values,
            terminals: done_flags(&steps.terminals),
            episodes,
            warnings,
        },
        None => rebuild_transitions(
            &steps.observations,
            &steps.actions,
            &steps.rewards,
            &steps.terminals,
            &steps.timeouts,
            episodes,
            warnings,
        )?,
    };
    Ok(dataset)
}

fn read_steps(root: &Group, warnings: &mut Vec<String>) -> Result<Steps> {
    let observations = arrays::read_matrix(root, "observations")?;
    let actions = arrays::read_matrix(root, "actions")?;
    let rewards = arrays::read_vector(root, "rewards")?;
    let terminals = arrays::read_flags(root, "terminals")?;
    // D4RL v0 files have no timeouts; their episodes then end at terminals only.
    let timeouts = if root.link_exists("timeouts") {
        arrays::read_flags(root, "timeouts")?
    } else {
        warnings.push("no 'timeouts' array: episodes end at terminals only".to_string());
        vec![false; terminals.len()]
    };
    let next_observations = if root.link_exists("next_observations") {
        Some(arrays::read_matrix(root, "next_observations")?)
    } else {
        None
    };

    let rows = observations.rows;
    if rows == 0 {
        bail!("empty dataset: 'observations' has 0 rows");
    }
    let mut lengths = vec![
        ("actions", actions.rows),
        ("rewards", rewards.len()),
        ("terminals", terminals.len()),
        ("timeouts", timeouts.len()),
    ];
    if let Some(next) = &next_observations {
        lengths.push(("next_observations", next.rows));
        if next.columns != observations.columns {
            bail!("'next_observations' has {} columns but 'observations' has {}", next.columns, observations.columns);
        }
    }
    checks::ensure_rows(("observations", rows), &lengths)?;
    Ok(Steps { observations, actions, rewards, terminals, timeouts, next_observations })
}

/// Splits the rows into episodes: an episode ends at a terminal or a timeout, and rows after the
/// last flag form a final, unfinished episode. Transition ranges equal the row ranges here.
fn split_episodes(rewards: &[f32], terminals: &[bool], timeouts: &[bool]) -> Vec<Episode> {
    let mut episodes = Vec::new();
    let mut start = 0;
    for row in 0..rewards.len() {
        let is_last_row = row + 1 == rewards.len();
        let ending = if terminals[row] {
            EpisodeEnd::Terminal
        } else if timeouts[row] {
            EpisodeEnd::Timeout
        } else if is_last_row {
            EpisodeEnd::Unfinished
        } else {
            continue;
        };
        let end = row + 1;
        let total_reward = rewards[start..end].iter().map(|&r| f64::from(r)).sum();
        episodes.push(Episode { start, end, steps: end - start, total_reward, ending });
        start = end;
    }
    episodes
}

/// Without `next_observations`, rebuilds transitions the way d4rl's `qlearning_dataset` does:
/// `s'_i = s_{i+1}` for every row but the last, skipping rows flagged as timeouts (their
/// successor is the first state of another episode). A terminal row keeps `s_{i+1}` as its
/// next state; that value is never used because the TD target does not bootstrap past it.
fn rebuild_transitions(
    observations: &Matrix,
    actions: &Matrix,
    rewards: &[f32],
    terminals: &[bool],
    timeouts: &[bool],
    mut episodes: Vec<Episode>,
    warnings: Vec<String>,
) -> Result<Dataset> {
    let rows = rewards.len();
    let kept: Vec<usize> = (0..rows.saturating_sub(1)).filter(|&row| !timeouts[row]).collect();
    if kept.is_empty() {
        bail!(
            "no transitions: without 'next_observations' every row but the last must be a \
             non-timeout step ({rows} rows)"
        );
    }

    // Rows kept before each file row, to map episode row ranges onto transition ranges.
    let mut kept_before = vec![0; rows + 1];
    for row in 0..rows {
        let is_kept = row + 1 < rows && !timeouts[row];
        kept_before[row + 1] = kept_before[row] + usize::from(is_kept);
    }
    for episode in &mut episodes {
        episode.start = kept_before[episode.start];
        episode.end = kept_before[episode.end];
    }

    let obs_dim = observations.columns;
    let act_dim = actions.columns;
    let gather = |matrix: &Matrix, offset: usize| -> Vec<f32> {
        let columns = matrix.columns;
        kept.iter()
            .flat_map(|&row| &matrix.values[(row + offset) * columns..(row + offset + 1) * columns])
            .copied()
            .collect()
    };
    let done: Vec<bool> = kept.iter().map(|&row| terminals[row]).collect();
    Ok(Dataset {
        source: PathBuf::new(),
        format: Format::D4rl,
        env: None,
        id: None,
        eval_env: None,
        references: References::D4rl,
        obs_dim,
        act_dim,
        observations: gather(observations, 0),
        actions: gather(actions, 0),
        rewards: kept.iter().map(|&row| rewards[row]).collect(),
        next_observations: gather(observations, 1),
        terminals: done_flags(&done),
        episodes,
        warnings,
    })
}
