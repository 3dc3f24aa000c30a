//! OGBench's single-task environments and datasets by name.
//!
//! A dataset name such as `antmaze-large-navigate-singletask-task2-v0` names the data
//! (`antmaze-large-navigate-v0.npz`) and the task (`antmaze-large-singletask-task2-v0`, the
//! environment that rewards it); without `-taskN` OGBench picks its default task. These are
//! OGBench's own rules (`ogbench.utils.make_env_and_datasets`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The OGBench environments qipo evaluates in: the locomotion mazes and one manipulation
/// domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OgEnv {
    AntmazeMedium,
    AntmazeLarge,
    AntmazeGiant,
    HumanoidmazeMedium,
    HumanoidmazeLarge,
    HumanoidmazeGiant,
    CubeSingle,
    CubeDouble,
}

impl OgEnv {
    pub const ALL: [OgEnv; 8] = [
        OgEnv::AntmazeMedium,
        OgEnv::AntmazeLarge,
        OgEnv::AntmazeGiant,
        OgEnv::HumanoidmazeMedium,
        OgEnv::HumanoidmazeLarge,
        OgEnv::HumanoidmazeGiant,
        OgEnv::CubeSingle,
        OgEnv::CubeDouble,
    ];

    /// The name's first words, as OGBench spells them.
    pub fn name(self) -> &'static str {
        match self {
            OgEnv::AntmazeMedium => "antmaze-medium",
            OgEnv::AntmazeLarge => "antmaze-large",
            OgEnv::AntmazeGiant => "antmaze-giant",
            OgEnv::HumanoidmazeMedium => "humanoidmaze-medium",
            OgEnv::HumanoidmazeLarge => "humanoidmaze-large",
            OgEnv::HumanoidmazeGiant => "humanoidmaze-giant",
            OgEnv::CubeSingle => "cube-single",
            OgEnv::CubeDouble => "cube-double",
        }
    }

    /// Observation and action widths (the same for every task of an environment).
    pub fn dims(self) -> (usize, usize) {
        match self {
            OgEnv::AntmazeMedium | OgEnv::AntmazeLarge | OgEnv::AntmazeGiant => (29, 8),
            OgEnv::HumanoidmazeMedium | OgEnv::HumanoidmazeLarge | OgEnv::HumanoidmazeGiant => (69, 21),
            OgEnv::CubeSingle => (28, 5),
            OgEnv::CubeDouble => (37, 5),
        }
    }
}

/// One single-task environment: `<env>-singletask[-task<N>]-v<version>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OgTask {
    pub env: OgEnv,
    /// 0: OGBench's default task for the environment.
    pub task: u8,
    pub version: u8,
}

impl OgTask {
    /// The task a single-task dataset name such as `cube-single-play-singletask-task2-v0` (or
    /// the environment's own name, `cube-single-singletask-task2-v0`) names, with the data's
    /// file stem (`cube-single-play-v0`; None for an environment name). Err for a name with
    /// `singletask` that names no environment qipo knows.
    pub fn parse(name: &str) -> Result<(OgTask, Option<String>), String> {
        let lower = name.to_lowercase();
        let words: Vec<&str> = lower.split('-').collect();
        let at = words
            .iter()
            .position(|w| *w == "singletask")
            .ok_or_else(|| format!("'{name}' is not a singletask name"))?;
        let unknown = || {
            let names: Vec<_> = OgEnv::ALL.iter().map(|env| env.name()).collect();
            format!(
                "'{name}': qipo runs OGBench's single-task {} (<env>[-<dataset>]-singletask[-task<N>]-v<N>)",
                names.join(", ")
            )
        };
        let version =
            words.last().and_then(|w| w.strip_prefix('v')).and_then(|v| v.parse().ok()).ok_or_else(unknown)?;
        let task = match &words[at + 1..words.len() - 1] {
            [] => 0,
            [task] => task.strip_prefix("task").and_then(|n| n.parse().ok()).filter(|&n| n > 0).ok_or_else(unknown)?,
            _ => return Err(unknown()),
        };
        let head = &words[..at];
        let (env, dataset) = OgEnv::ALL
            .iter()
            .find_map(|env| {
                let env_words: Vec<&str> = env.name().split('-').collect();
                match head {
                    h if h == env_words.as_slice() => Some((*env, None)),
                    [rest @ .., kind] if rest == env_words.as_slice() => Some((*env, Some(*kind))),
                    _ => None,
                }
            })
            .ok_or_else(unknown)?;
        let stem = dataset.map(|kind| format!("{}-{kind}-v{version}", env.name()));
        Ok((OgTask { env, task, version }, stem))
    }

    pub fn dims(self) -> (usize, usize) {
        self.env.dims()
    }
}

impl fmt::Display for OgTask {
    /// The gymnasium id OGBench registers, e.g. `antmaze-large-singletask-task2-v0`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.task {
            0 => write!(f, "{}-singletask-v{}", self.env.name(), self.version),
            n => write!(f, "{}-singletask-task{n}-v{}", self.env.name(), self.version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ogbenchs_rules() {
        let (task, stem) = OgTask::parse("antmaze-large-navigate-singletask-task2-v0").unwrap();
        assert_eq!(task, OgTask { env: OgEnv::AntmazeLarge, task: 2, version: 0 });
        assert_eq!(stem.as_deref(), Some("antmaze-large-navigate-v0"));
        assert_eq!(task.to_string(), "antmaze-large-singletask-task2-v0");
        let (task, stem) = OgTask::parse("cube-single-play-singletask-v0").unwrap();
        assert_eq!((task.env, task.task), (OgEnv::CubeSingle, 0));
        assert_eq!(stem.as_deref(), Some("cube-single-play-v0"));
        assert_eq!(task.to_string(), "cube-single-singletask-v0");
        let (task, stem) = OgTask::parse("humanoidmaze-medium-singletask-task5-v0").unwrap();
        assert_eq!((task.env, task.task, stem), (OgEnv::HumanoidmazeMedium, 5, None));
        assert!(OgTask::parse("antmaze-huge-navigate-singletask-v0").is_err());
        assert!(OgTask::parse("puzzle-3x3-play-singletask-v0").is_err());
        assert!(OgTask::parse("antmaze-large-navigate-singletask-taskx-v0").is_err());
        assert!(OgTask::parse("antmaze-large-navigate-v0").is_err());
    }
}
