//! Runs one episode in every copy of a vectorised environment, all stepped together: each
//! step gathers the live episodes' observations, asks the policy once for all of them, and
//! steps those episodes.

use std::time::Instant;

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::scoring::Scoring;
use crate::envs::{EnvSpec, VecEnv};
use crate::random::mixed_seed;
use crate::report::Progress;
use crate::stats::mean_stderr;

/// The outcome of an evaluation; scores are returns normalised with `score_reference`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EvalReport {
    pub env: String,
    pub policy: String,
    pub episodes: usize,
    pub seed: u64,
    pub return_mean: f64,
    /// Standard error of the mean over episodes.
    pub return_stderr: f64,
    pub score_mean: f64,
    pub score_stderr: f64,
    /// What the scores are (`D4RL score`, `normalised score`, ...) and the references they
    /// use; reports written before these were recorded hold D4RL scores.
    #[serde(default = "d4rl_score_name")]
    pub score_name: String,
    #[serde(default)]
    pub score_reference: String,
    pub length_mean: f64,
    /// AntMaze, OGBench: the fraction of episodes that reached the goal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    pub returns: Vec<f64>,
    pub scores: Vec<f64>,
    pub lengths: Vec<usize>,
    pub seconds: f64,
    pub env_steps_per_s: f64,
}

fn d4rl_score_name() -> String {
    "D4RL score".to_string()
}

/// Episode `episode`'s reset seed: a function of the evaluation seed and the episode alone,
/// so an episode starts the same however many run beside it.
pub fn episode_seed(seed: u64, episode: usize) -> u64 {
    mixed_seed(seed, episode as u64 + 1)
}

/// Runs one episode per copy of `env` with `policy`; episode i starts from
/// `episode_seed(seed, i)`. Actions are clamped to the environment's bounds; returns become
/// scores by `scoring`.
pub fn evaluate(
    env: &mut dyn VecEnv,
    policy: &mut dyn Policy,
    scoring: Scoring,
    seed: u64,
    progress: &dyn Progress,
) -> Result<EvalReport> {
    let (n, obs_dim, act_dim) = (env.len(), env.obs_dim(), env.act_dim());
    ensure!(n > 0, "an evaluation needs at least one episode");
    let (low, high) = env.action_bounds();
    let started = Instant::now();
    let seeds: Vec<u64> = (0..n).map(|i| episode_seed(seed, i)).collect();
    let mut observations = env.reset(&seeds)?;
    let mut returns = vec![0.0; n];
    let mut lengths = vec![0usize; n];
    let mut successes = vec![false; n];
    let mut live: Vec<usize> = (0..n).collect();
    let mut env_steps = 0usize;
    // The environment truncates at its limit; the bound only guards against one that does not.
    for step in 1..=env.max_steps() {
        if live.is_empty() {
            break;
        }
        let batch: Vec<f64> =
            live.iter().flat_map(|&i| observations[i * obs_dim..(i + 1) * obs_dim].iter().copied()).collect();
        let mut actions = policy.act(&batch, live.len())?;
        ensure!(actions.len() == live.len() * act_dim, "the policy gave {} action values", actions.len());
        for (k, a) in actions.iter_mut().enumerate() {
            *a = a.clamp(low[k % act_dim], high[k % act_dim]);
        }
        let outcomes = env.step(&live, &actions)?;
        env_steps += live.len();
        let mut still_live = Vec::with_capacity(live.len());
        for (&i, outcome) in live.iter().zip(outcomes) {
            returns[i] += outcome.reward;
            lengths[i] += 1;
            successes[i] |= outcome.success;
            observations[i * obs_dim..(i + 1) * obs_dim].copy_from_slice(&outcome.observation);
            if !(outcome.terminated || outcome.truncated) {
                still_live.push(i);
            }
        }
        live = still_live;
        progress.set_done(step as u64);
        progress.set_note(&format!("{} of {n} episodes running", live.len()));
    }
    let spec: EnvSpec = env.spec();
    let scores: Vec<f64> = returns.iter().zip(&successes).map(|(&r, &s)| scoring.score(spec, r, s)).collect();
    let (return_mean, return_stderr) = mean_stderr(&returns);
    let (score_mean, score_stderr) = mean_stderr(&scores);
    let seconds = started.elapsed().as_secs_f64();
    Ok(EvalReport {
        env: spec.to_string(),
        policy: policy.name(),
        episodes: n,
        seed,
        return_mean,
        return_stderr,
        score_mean,
        score_stderr,
        score_name: scoring.label(spec).to_string(),
        score_reference: scoring.describe(spec),
        length_mean: lengths.iter().sum::<usize>() as f64 / n as f64,
        success_rate: spec.has_success().then(|| successes.iter().filter(|&&s| s).count() as f64 / n as f64),
        returns,
        scores,
        lengths,
        seconds,
        env_steps_per_s: env_steps as f64 / seconds.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_seeds_differ_and_repeat() {
        assert_eq!(episode_seed(3, 5), episode_seed(3, 5));
        let seeds: std::collections::BTreeSet<u64> = (0..100).map(|i| episode_seed(0, i)).collect();
        assert_eq!(seeds.len(), 100);
        assert_ne!(episode_seed(0, 1), episode_seed(1, 0));
    }
}
