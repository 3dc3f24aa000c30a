//! How an evaluation turns episode returns into scores, in the units of the benchmark the
//! dataset comes from.

use serde::{Deserialize, Serialize};

use crate::data::references::References;
use crate::envs::spec::EnvSpec;

/// Which references a run's scores use (`run.score`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreMode {
    /// The dataset's: `qipo train` puts the references of the dataset's metadata here when
    /// it creates a run; D4RL's where there are none.
    #[default]
    Auto,
    /// D4RL's reference returns of the environment's family (AntMaze: 100 × success).
    D4rl,
    /// `run.ref_min_score` and `run.ref_max_score`, a Minari dataset's own.
    Reference,
    /// No references: the score is the return.
    Return,
    /// 100 × whether the episode succeeded, OGBench's unit.
    Success,
}

/// The references in use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scoring {
    D4rl,
    /// `100 (R − min) / (max − min)`: 100 × `minari.get_normalized_score`.
    Reference {
        min: f64,
        max: f64,
    },
    Return,
    Success,
}

impl Scoring {
    pub fn new(mode: ScoreMode, min: f64, max: f64) -> Scoring {
        match mode {
            ScoreMode::Auto | ScoreMode::D4rl => Scoring::D4rl,
            ScoreMode::Reference => Scoring::Reference { min, max },
            ScoreMode::Return => Scoring::Return,
            ScoreMode::Success => Scoring::Success,
        }
    }

    /// The scoring of a dataset's references.
    pub fn of(references: &References) -> Scoring {
        match references {
            References::D4rl => Scoring::D4rl,
            References::Minari { min, max, .. } => Scoring::Reference { min: *min, max: *max },
            References::Unnormalised { .. } => Scoring::Return,
            References::OgBench => Scoring::Success,
        }
    }

    /// `run.score`, `run.ref_min_score` and `run.ref_max_score` of this scoring.
    pub fn settings(self) -> (ScoreMode, f64, f64) {
        match self {
            Scoring::D4rl => (ScoreMode::D4rl, 0.0, 0.0),
            Scoring::Reference { min, max } => (ScoreMode::Reference, min, max),
            Scoring::Return => (ScoreMode::Return, 0.0, 0.0),
            Scoring::Success => (ScoreMode::Success, 0.0, 0.0),
        }
    }

    /// The score of an episode of `spec` that returned `episode_return` and ended in
    /// success or not. OGBench's environments have no D4RL references: they score success.
    pub fn score(self, spec: EnvSpec, episode_return: f64, success: bool) -> f64 {
        let success = if success { 100.0 } else { 0.0 };
        match self.in_env(spec) {
            Scoring::D4rl => spec.normalized_score(episode_return).expect("a D4RL family"),
            Scoring::Reference { min, max } => 100.0 * (episode_return - min) / (max - min),
            Scoring::Return => episode_return,
            Scoring::Success => success,
        }
    }

    /// D4RL's references where `spec` has none become OGBench's success.
    fn in_env(self, spec: EnvSpec) -> Scoring {
        match (self, spec.env()) {
            (Scoring::D4rl, None) => Scoring::Success,
            _ => self,
        }
    }

    /// What the scores are, for the reports: `D4RL score`, `normalised score`, `return`.
    pub fn label(self, spec: EnvSpec) -> &'static str {
        match self.in_env(spec) {
            Scoring::D4rl => "D4RL score",
            Scoring::Reference { .. } => "normalised score",
            Scoring::Return => "unnormalised score (the return)",
            Scoring::Success => "success score",
        }
    }

    /// The references, for the record of an evaluation.
    pub fn describe(self, spec: EnvSpec) -> String {
        match self.in_env(spec) {
            Scoring::D4rl => {
                let env = spec.env().expect("a D4RL family");
                let reference = env.reference_returns();
                format!("D4RL's {env} references {} to {}", reference.random, reference.expert)
            }
            Scoring::Reference { min, max } => format!("the dataset's references {min} to {max}"),
            Scoring::Return => "none: scores are unnormalised returns".to_string(),
            Scoring::Success => "100 × success, as OGBench reports".to_string(),
        }
    }
}
