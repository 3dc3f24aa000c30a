//! Which environment a dataset comes from, and its D4RL reference returns.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The environments with D4RL reference returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    HalfCheetah,
    Hopper,
    Walker2d,
    AntMaze,
}

/// D4RL's reference returns: a random policy scores 0, an expert 100.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReferenceReturns {
    pub random: f64,
    pub expert: f64,
}

impl Env {
    /// The widths of the environment's observations and actions (the same in gymnasium's
    /// v4 and v5 and in D4RL's data), known without creating it, so that a dataset of
    /// another shape is refused before training rather than at the first evaluation.
    pub fn dims(self) -> (usize, usize) {
        match self {
            Env::HalfCheetah => (17, 6),
            Env::Hopper => (11, 3),
            Env::Walker2d => (17, 6),
            Env::AntMaze => (29, 8),
        }
    }

    pub const ALL: [Env; 4] = [Env::HalfCheetah, Env::Hopper, Env::Walker2d, Env::AntMaze];

    pub fn name(self) -> &'static str {
        match self {
            Env::HalfCheetah => "halfcheetah",
            Env::Hopper => "hopper",
            Env::Walker2d => "walker2d",
            Env::AntMaze => "antmaze",
        }
    }

    /// The reference returns of d4rl's `infos.py` (the same for every dataset of an env).
    pub fn reference_returns(self) -> ReferenceReturns {
        let (random, expert) = match self {
            Env::HalfCheetah => (-280.178953, 12135.0),
            Env::Hopper => (-20.272305, 3234.3),
            Env::Walker2d => (1.629008, 4592.3),
            Env::AntMaze => (0.0, 1.0),
        };
        ReferenceReturns { random, expert }
    }

    /// D4RL-normalised score of an episode return: `100 (R - random) / (expert - random)`.
    pub fn normalized_score(self, episode_return: f64) -> f64 {
        let reference = self.reference_returns();
        100.0 * (episode_return - reference.random) / (reference.expert - reference.random)
    }

    /// MuJoCo locomotion (dense rewards), as opposed to the sparse-reward antmaze.
    pub fn is_locomotion(self) -> bool {
        self != Env::AntMaze
    }

    /// Finds the environment named anywhere in a dataset or env id such as
    /// `hopper-medium-replay-v2`, `HalfCheetah-v5`, `mujoco/walker2d/medium-v0` or
    /// `AntMaze_UMaze-v4`.
    pub fn find_in(text: &str) -> Option<Env> {
        let squashed: String = text.chars().filter(|c| *c != '_' && *c != ' ').flat_map(char::to_lowercase).collect();
        // "antmaze" before the others: no other name is a part of it, but be explicit.
        [Env::AntMaze, Env::HalfCheetah, Env::Hopper, Env::Walker2d]
            .into_iter()
            .find(|env| squashed.contains(env.name()))
    }

    /// Finds the environment in a file path, the file name first, then the folders from the
    /// nearest up (Minari keeps `mujoco/hopper/medium-v0/data/main_data.hdf5`).
    pub fn find_in_path(path: &Path) -> Option<Env> {
        let components: Vec<_> = path.components().collect();
        components.iter().rev().find_map(|component| Env::find_in(&component.as_os_str().to_string_lossy()))
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Env {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Env::find_in(text).ok_or_else(|| {
            let names: Vec<_> = Env::ALL.iter().map(|env| env.name()).collect();
            format!(
                "unknown environment '{text}': expected one of {} (or a dataset name containing one)",
                names.join(", ")
            )
        })
    }
}
