//! The in-memory dataset: flat row-major `f32` arrays of transitions plus the episode structure.

use std::path::PathBuf;

use serde::Serialize;

use super::env::Env;
use super::references::References;

/// Which on-disk layout a dataset was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One flat array per field (`observations`, `actions`, ...) at the file's root.
    D4rl,
    /// One `episode_<id>` group per episode (Minari's `main_data.hdf5`).
    Minari,
    /// OGBench's `.npz` of trajectories, relabelled for a single task.
    #[serde(rename = "ogbench")]
    OgBench,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::D4rl => "d4rl",
            Format::Minari => "minari",
            Format::OgBench => "ogbench",
        }
    }

    /// The benchmark, as people write it.
    pub fn benchmark(self) -> &'static str {
        match self {
            Format::D4rl => "D4RL",
            Format::Minari => "Minari",
            Format::OgBench => "OGBench",
        }
    }
}

/// How an episode ended in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EpisodeEnd {
    /// The environment terminated (e.g. the hopper fell): no bootstrapping past the last step.
    Terminal,
    /// The episode was truncated (time limit, or cut to reach the dataset size).
    Timeout,
    /// The file stops before the episode ended (a trailing run with neither flag set).
    Unfinished,
}

/// One episode of the behaviour data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Episode {
    /// First transition row of the episode in the [`Dataset`] arrays.
    pub start: usize,
    /// One past its last transition row: the episode's transitions are rows `start..end`.
    /// Without `next_observations` in a D4RL file the final timeout step is dropped (see
    /// [`Dataset`]), so `end - start` can be smaller than `steps`, even zero.
    pub end: usize,
    /// Environment steps the file records for the episode.
    pub steps: usize,
    /// Undiscounted return: the sum of the rewards of all `steps`, in f64, before any
    /// reward normalisation.
    pub total_reward: f64,
    pub ending: EpisodeEnd,
}

impl Episode {
    pub fn transitions(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Offline-RL transitions, ready to be uploaded to the GPU as they are.
///
/// Row `i` of every array is one transition `(s, a, r, s', done)`. All arrays are contiguous
/// and row-major: `observations[i * obs_dim .. (i + 1) * obs_dim]` is `s_i`.
///
/// Where the rows come from:
/// - D4RL with `next_observations`: every row of the file, as stored.
/// - D4RL without `next_observations`: rebuilt as d4rl's `qlearning_dataset` does:
///   `s'_i = s_{i+1}`, rows flagged as timeouts are dropped (their successor starts another
///   episode), and the last row of the file is dropped (it has no successor).
/// - Minari: for each episode, `s_t = observations[t]`, `s'_t = observations[t + 1]`.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The file the data was read from.
    pub source: PathBuf,
    pub format: Format,
    /// The environment, when the file (its name, path, attributes or metadata) says which one.
    pub env: Option<Env>,
    /// The benchmark's own name for the data (a Minari dataset id), when known.
    pub id: Option<String>,
    /// The environment the dataset's metadata names for evaluation (a gymnasium id such as
    /// `Hopper-v5`), when it has metadata.
    pub eval_env: Option<String>,
    /// The reference returns its scores are normalised with, and where they come from.
    pub references: References,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// `len() * obs_dim` values: `s_i`.
    pub observations: Vec<f32>,
    /// `len() * act_dim` values: `a_i`.
    pub actions: Vec<f32>,
    /// `len()` values: `r_i`.
    pub rewards: Vec<f32>,
    /// `len() * obs_dim` values: `s'_i`.
    pub next_observations: Vec<f32>,
    /// `len()` values, 1.0 where `s'_i` is a true terminal state and 0.0 elsewhere. This is the
    /// `done` of the TD target: timeouts are not terminals, their value is still bootstrapped.
    pub terminals: Vec<f32>,
    /// The episodes in file order; their transition ranges are contiguous and cover every row.
    pub episodes: Vec<Episode>,
    /// Problems worth knowing about that do not stop training (e.g. actions out of bounds).
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    pub fn observation(&self, row: usize) -> &[f32] {
        &self.observations[row * self.obs_dim..(row + 1) * self.obs_dim]
    }

    pub fn next_observation(&self, row: usize) -> &[f32] {
        &self.next_observations[row * self.obs_dim..(row + 1) * self.obs_dim]
    }

    pub fn action(&self, row: usize) -> &[f32] {
        &self.actions[row * self.act_dim..(row + 1) * self.act_dim]
    }

    /// The normalised score of a return with the dataset's references, when they give one.
    pub fn normalized_score(&self, episode_return: f64) -> Option<f64> {
        self.references.normalized_score(self.env, episode_return)
    }

    /// Undiscounted return of every episode, in file order.
    pub fn episode_returns(&self) -> Vec<f64> {
        self.episodes.iter().map(|episode| episode.total_reward).collect()
    }
}

/// Terminal flags as the f32 `done` of the TD target.
pub(crate) fn done_flags(flags: &[bool]) -> Vec<f32> {
    flags.iter().map(|&flag| if flag { 1.0 } else { 0.0 }).collect()
}
