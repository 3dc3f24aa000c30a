//! Which environment to evaluate in, from a name such as `hopper`, `Hopper-v4`,
//! `halfcheetah-medium-replay-v2`, `antmaze-large-diverse-v2` or OGBench's
//! `antmaze-large-navigate-singletask-v0`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ogbench_task::OgTask;
use crate::data::env::Env;

/// The version of gymnasium's MuJoCo environments whose semantics to reproduce. v5 is the
/// default; D4RL's datasets were collected in the older v4-era models (Walker2d's feet
/// differ), so a name ending in `-v4`, or in `-v2` as D4RL's dataset names do, selects those.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GymVersion {
    V4,
    V5,
}

/// The three AntMaze layouts of D4RL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maze {
    Umaze,
    Medium,
    Large,
}

impl Maze {
    pub fn name(self) -> &'static str {
        match self {
            Maze::Umaze => "umaze",
            Maze::Medium => "medium",
            Maze::Large => "large",
        }
    }
}

/// An evaluation environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EnvSpec {
    /// HalfCheetah, Hopper or Walker2d in MuJoCo.
    Locomotion { env: Env, version: GymVersion },
    /// D4RL's AntMaze, through gymnasium-robotics.
    AntMaze { maze: Maze },
    /// One of OGBench's single-task environments, through `ogbench`.
    #[serde(rename = "ogbench")]
    OgBench { task: OgTask },
}

impl EnvSpec {
    /// The environment family with D4RL reference returns; None for OGBench's.
    pub fn env(self) -> Option<Env> {
        match self {
            EnvSpec::Locomotion { env, .. } => Some(env),
            EnvSpec::AntMaze { .. } => Some(Env::AntMaze),
            EnvSpec::OgBench { .. } => None,
        }
    }

    /// The widths of the observations and actions, known without creating the environment.
    pub fn dims(self) -> (usize, usize) {
        match self {
            EnvSpec::OgBench { task } => task.dims(),
            _ => self.env().expect("a D4RL family").dims(),
        }
    }

    /// Whether its episodes succeed or fail (AntMaze, OGBench), reported as a success rate.
    pub fn has_success(self) -> bool {
        !matches!(self, EnvSpec::Locomotion { .. })
    }

    /// D4RL-normalised score of an episode return; None without D4RL references.
    pub fn normalized_score(self, episode_return: f64) -> Option<f64> {
        Some(self.env()?.normalized_score(episode_return))
    }
}

impl fmt::Display for EnvSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            EnvSpec::Locomotion { env, version } => {
                let v = match version {
                    GymVersion::V4 => "v4",
                    GymVersion::V5 => "v5",
                };
                write!(f, "{env}-{v}")
            }
            EnvSpec::AntMaze { maze } => write!(f, "antmaze-{}", maze.name()),
            EnvSpec::OgBench { task } => write!(f, "{task}"),
        }
    }
}

impl FromStr for EnvSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_lowercase();
        // OGBench's names hold "antmaze" too: its single-task ones are told apart first.
        if lower.split('-').any(|word| word == "singletask") {
            return Ok(EnvSpec::OgBench { task: OgTask::parse(text)?.0 });
        }
        let env: Env = text.parse()?;
        if env == Env::AntMaze {
            // Look for the layout after the family name ("umaze" contains "maze").
            let rest = &lower[lower.find("antmaze").map_or(0, |i| i + "antmaze".len())..];
            let maze = [Maze::Umaze, Maze::Medium, Maze::Large]
                .into_iter()
                .find(|maze| rest.contains(maze.name()))
                .ok_or_else(|| {
                    format!("'{text}': which AntMaze layout? expected umaze, medium or large in the name")
                })?;
            return Ok(EnvSpec::AntMaze { maze });
        }
        // A file name's extension does not count: `walker2d-medium-v2.hdf5` is D4RL data.
        let name = [".hdf5", ".h5"].iter().find_map(|ext| lower.strip_suffix(ext)).unwrap_or(&lower);
        let d4rl_era = name.ends_with("-v4") || name.ends_with("-v2");
        let version = if d4rl_era { GymVersion::V4 } else { GymVersion::V5 };
        Ok(EnvSpec::Locomotion { env, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        let parse = |s: &str| s.parse::<EnvSpec>().unwrap();
        assert_eq!(parse("hopper"), EnvSpec::Locomotion { env: Env::Hopper, version: GymVersion::V5 });
        assert_eq!(parse("Walker2d-v4"), EnvSpec::Locomotion { env: Env::Walker2d, version: GymVersion::V4 });
        // D4RL's -v2 data came from the v4-era models, and evaluate there.
        assert_eq!(
            parse("halfcheetah-medium-replay-v2"),
            EnvSpec::Locomotion { env: Env::HalfCheetah, version: GymVersion::V4 }
        );
        assert_eq!(
            parse("walker2d-medium-v2.hdf5"),
            EnvSpec::Locomotion { env: Env::Walker2d, version: GymVersion::V4 }
        );
        assert_eq!(parse("Walker2d-v5"), EnvSpec::Locomotion { env: Env::Walker2d, version: GymVersion::V5 });
        assert_eq!(parse("antmaze-umaze-diverse-v2"), EnvSpec::AntMaze { maze: Maze::Umaze });
        assert_eq!(parse("AntMaze_Large-v4"), EnvSpec::AntMaze { maze: Maze::Large });
        assert_eq!(parse("antmaze-medium-play-v2"), EnvSpec::AntMaze { maze: Maze::Medium });
        assert!("antmaze".parse::<EnvSpec>().is_err());
        assert!("cartpole".parse::<EnvSpec>().is_err());
        assert_eq!(parse("Hopper-v4").to_string(), "hopper-v4");
        let ogbench = parse("antmaze-large-navigate-singletask-task3-v0");
        assert_eq!(ogbench.to_string(), "antmaze-large-singletask-task3-v0");
        assert_eq!(parse(&ogbench.to_string()), ogbench);
        assert!("antmaze-huge-navigate-singletask-v0".parse::<EnvSpec>().is_err());
    }
}
