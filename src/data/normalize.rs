//! Reward and observation normalisation, fitted on the dataset and recorded so that evaluation
//! applies exactly the same transformation to the environment's observations later.
//!
//! Rewards follow IQL / QGPO: locomotion `r * 1000 / (max episode return - min episode return)`,
//! antmaze `r - 1`. Observations optionally become `(s - mean) / std` with the dataset's
//! per-feature mean and standard deviation (floored, so constant features stay finite).

use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::env::Env;

/// Smallest standard deviation an observation feature is divided by.
pub const OBSERVATION_STD_FLOOR: f32 = 1e-3;

/// Which reward normalisation to fit (a config choice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RewardMode {
    /// Locomotion scaling for MuJoCo locomotion, the antmaze shift for antmaze, and nothing
    /// when the environment is unknown.
    #[default]
    Auto,
    Locomotion,
    #[value(name = "antmaze")]
    #[serde(rename = "antmaze")]
    AntMaze,
    None,
}

/// The reward transformation that was fitted: `r' = r * factor` or `r' = r + offset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RewardNormalization {
    None,
    Scale { factor: f64 },
    Shift { offset: f64 },
}

/// Per-feature `(s - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservationNormalization {
    pub mean: Vec<f32>,
    /// Already floored at [`OBSERVATION_STD_FLOOR`].
    pub std: Vec<f32>,
}

/// Everything done to the data before training; saved with a run, applied again at evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub reward: RewardNormalization,
    pub observations: Option<ObservationNormalization>,
}

impl RewardNormalization {
    /// IQL's locomotion scaling: episode returns then span exactly 1000.
    pub fn locomotion(dataset: &Dataset) -> Result<Self> {
        let returns = dataset.episode_returns();
        let max = returns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = returns.iter().copied().fold(f64::INFINITY, f64::min);
        let range = max - min;
        ensure!(
            range.is_finite() && range > 0.0,
            "cannot scale rewards by the episode return range: every episode returns {max}"
        );
        Ok(RewardNormalization::Scale { factor: 1000.0 / range })
    }

    /// Sparse 0/1 antmaze rewards become -1/0, as in IQL.
    pub fn antmaze() -> Self {
        RewardNormalization::Shift { offset: -1.0 }
    }

    pub fn fit(dataset: &Dataset, mode: RewardMode) -> Result<Self> {
        match mode {
            RewardMode::Auto => match dataset.env {
                Some(Env::AntMaze) => Ok(Self::antmaze()),
                Some(_) => Self::locomotion(dataset),
                None => Ok(RewardNormalization::None),
            },
            RewardMode::Locomotion => Self::locomotion(dataset),
            RewardMode::AntMaze => Ok(Self::antmaze()),
            RewardMode::None => Ok(RewardNormalization::None),
        }
    }

    pub fn apply(&self, reward: f32) -> f32 {
        match *self {
            RewardNormalization::None => reward,
            RewardNormalization::Scale { factor } => (f64::from(reward) * factor) as f32,
            RewardNormalization::Shift { offset } => (f64::from(reward) + offset) as f32,
        }
    }
}

impl ObservationNormalization {
    /// Mean and population standard deviation of every feature over the dataset's observations.
    pub fn fit(dataset: &Dataset) -> Self {
        let dim = dataset.obs_dim;
        let rows = dataset.len() as f64;
        let mut mean = vec![0.0_f64; dim];
        for row in dataset.observations.chunks_exact(dim) {
            for (total, &value) in mean.iter_mut().zip(row) {
                *total += f64::from(value) / rows;
            }
        }
        // Second pass over deviations: sums of squares lose precision for large offsets.
        let mut variance = vec![0.0_f64; dim];
        for row in dataset.observations.chunks_exact(dim) {
            for ((total, &value), mean) in variance.iter_mut().zip(row).zip(&mean) {
                *total += (f64::from(value) - mean).powi(2) / rows;
            }
        }
        ObservationNormalization {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: variance.iter().map(|&v| (v.sqrt() as f32).max(OBSERVATION_STD_FLOOR)).collect(),
        }
    }

    /// Normalises one or more observations in place (a whole number of rows).
    pub fn apply(&self, observations: &mut [f32]) {
        for row in observations.chunks_exact_mut(self.mean.len()) {
            for ((value, mean), std) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *value = (*value - mean) / std;
            }
        }
    }
}

impl Normalization {
    /// Fits the reward normalisation, and the observation normalisation when asked for.
    pub fn fit(dataset: &Dataset, rewards: RewardMode, normalize_observations: bool) -> Result<Self> {
        Ok(Normalization {
            reward: RewardNormalization::fit(dataset, rewards)?,
            observations: normalize_observations.then(|| ObservationNormalization::fit(dataset)),
        })
    }

    /// Transforms the transition arrays in place. Episode returns keep their raw values: they
    /// describe the behaviour data and give the D4RL score.
    pub fn apply(&self, dataset: &mut Dataset) -> Result<()> {
        if let Some(observations) = &self.observations {
            if observations.mean.len() != dataset.obs_dim {
                bail!(
                    "observation normalisation has {} features but the dataset has {}",
                    observations.mean.len(),
                    dataset.obs_dim
                );
            }
            observations.apply(&mut dataset.observations);
            observations.apply(&mut dataset.next_observations);
        }
        for reward in &mut dataset.rewards {
            *reward = self.reward.apply(*reward);
        }
        Ok(())
    }

    /// Normalises observations coming from the environment at evaluation time.
    pub fn apply_to_observations(&self, observations: &mut [f32]) {
        if let Some(normalization) = &self.observations {
            normalization.apply(observations);
        }
    }
}
