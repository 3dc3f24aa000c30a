//! Summary statistics of a dataset: sizes, episode returns and the normalised score of the
//! behaviour data, with the references it uses and where they come from.
//!
//! Episodes follow the D4RL convention: an episode ends at a terminal or a timeout, and a
//! trailing run with neither flag counts as one more (unfinished) episode. Returns are summed in
//! f64 over every step the file records, including a final timeout step that the transitions
//! may drop. Unfinished and cut-short episodes are included in the mean, min and max: the
//! statistics describe the file as it is, without guessing which episodes are "complete".

use serde::Serialize;

use super::dataset::{Dataset, EpisodeEnd, Format};
use super::env::Env;
use super::references::References;
use crate::stats::mean_and_population_std;

/// What `qipo dataset inspect` reports (its `--json` output is this struct).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub file: String,
    pub format: Format,
    /// The benchmark's name for the data (a Minari id), when known.
    pub id: Option<String>,
    pub env: Option<Env>,
    /// The environment the dataset's metadata names for evaluation.
    pub eval_env: Option<String>,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// Rows of the transition arrays.
    pub transitions: usize,
    /// Environment steps in the file (more than `transitions` when transitions were rebuilt).
    pub steps: usize,
    pub episodes: usize,
    pub terminal_episodes: usize,
    pub timeout_episodes: usize,
    pub unfinished_episodes: usize,
    /// Transitions whose `done` is 1.
    pub terminals: usize,
    pub return_mean: f64,
    pub return_std: f64,
    pub return_min: f64,
    pub return_max: f64,
    /// Normalised score of the mean return, `100 (R − min) / (max − min)`, when there are
    /// references.
    pub normalized_score: Option<f64>,
    /// The references' `(min, max)` returns, when there are any for the environment.
    pub reference_min: Option<f64>,
    pub reference_max: Option<f64>,
    /// Where the references come from.
    pub references: References,
    pub warnings: Vec<String>,
}

impl Summary {
    pub fn of(dataset: &Dataset) -> Summary {
        let returns = dataset.episode_returns();
        let count_ending = |ending| dataset.episodes.iter().filter(|episode| episode.ending == ending).count();
        let (return_mean, return_std) = mean_and_population_std(&returns);
        let bounds = dataset.references.bounds(dataset.env);
        Summary {
            file: dataset.source.display().to_string(),
            format: dataset.format,
            id: dataset.id.clone(),
            env: dataset.env,
            eval_env: dataset.eval_env.clone(),
            obs_dim: dataset.obs_dim,
            act_dim: dataset.act_dim,
            transitions: dataset.len(),
            steps: dataset.episodes.iter().map(|episode| episode.steps).sum(),
            episodes: dataset.episodes.len(),
            terminal_episodes: count_ending(EpisodeEnd::Terminal),
            timeout_episodes: count_ending(EpisodeEnd::Timeout),
            unfinished_episodes: count_ending(EpisodeEnd::Unfinished),
            terminals: dataset.terminals.iter().filter(|&&done| done != 0.0).count(),
            return_mean,
            return_std,
            return_min: returns.iter().copied().fold(f64::INFINITY, f64::min),
            return_max: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            normalized_score: dataset.normalized_score(return_mean),
            reference_min: bounds.map(|(min, _)| min),
            reference_max: bounds.map(|(_, max)| max),
            references: dataset.references.clone(),
            warnings: dataset.warnings.clone(),
        }
    }
}
