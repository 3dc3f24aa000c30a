//! The reference returns that turn an episode return into a normalised score, and where they
//! came from: D4RL's table for its environments, a Minari dataset's own `ref_min_score` and
//! `ref_max_score`, or none at all (the score is then the return itself).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::env::Env;

/// Where a dataset's reference returns come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum References {
    /// D4RL's `infos.py`, for the dataset's environment family (none when it is unknown).
    D4rl,
    /// A Minari dataset's `metadata.json`, as `minari.get_normalized_score` reads them.
    Minari { min: f64, max: f64, file: PathBuf },
    /// A Minari `metadata.json` without reference scores: scores are unnormalised returns.
    Unnormalised { file: PathBuf },
    /// OGBench: episodes are scored by success (100 × the success rate), not by return.
    #[serde(rename = "ogbench")]
    OgBench,
}

impl References {
    /// `(min, max)` for an environment, when these references give any.
    pub fn bounds(&self, env: Option<Env>) -> Option<(f64, f64)> {
        match self {
            References::D4rl => env.map(|env| {
                let reference = env.reference_returns();
                (reference.random, reference.expert)
            }),
            References::Minari { min, max, .. } => Some((*min, *max)),
            References::Unnormalised { .. } | References::OgBench => None,
        }
    }

    /// `100 (R − min) / (max − min)`: 100 × `minari.get_normalized_score`, or D4RL's score.
    pub fn normalized_score(&self, env: Option<Env>, episode_return: f64) -> Option<f64> {
        let (min, max) = self.bounds(env)?;
        Some(100.0 * (episode_return - min) / (max - min))
    }
}

impl fmt::Display for References {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            References::D4rl => f.write_str("D4RL's reference returns (d4rl infos.py)"),
            References::Minari { file, .. } => write!(f, "ref_min_score and ref_max_score of {}", file.display()),
            References::Unnormalised { file } => {
                write!(
                    f,
                    "none: {} has no ref_min_score and ref_max_score, scores are unnormalised returns",
                    file.display()
                )
            }
            References::OgBench => f.write_str("none: OGBench scores success (100 × the success rate), not returns"),
        }
    }
}
