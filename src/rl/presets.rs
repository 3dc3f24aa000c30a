//! Named starting points for a run: one per D4RL task of the paper's table, one per Minari
//! MuJoCo dataset of those environments (`mujoco/hopper/medium-v0`, ...), `smoke`, a tiny
//! run of every stage on the shipped hopper dataset, and `demo`, QIPO against flow behaviour
//! cloning on the shipped mixed-quality hopper dataset in under an hour on a CPU.
//!
//! The paper reuses QGPO's network "for fairness" and does not publish all of its other
//! settings; where it is silent, the task presets follow QGPO's code
//! (thu-ml/CEP-energy-guided-diffusion, `Offline_RL_2D/`), and where that has nothing to
//! follow (the flow-specific settings, the policy stage), ALGORITHM.md. The README's table
//! gives every setting with its source. Whatever a run uses ends up in its `config.toml`, so
//! a tuned value is always recorded.
//!
//! [`resolve`] lays a config file and `key=value` overrides over a preset:
//!
//! ```
//! use qipo::rl::presets::resolve;
//!
//! let config = resolve(Some("hopper-medium-v2"), None, &["policy.beta=5".to_string()])?;
//! assert_eq!(config.policy.beta, 5.0);
//! # anyhow::Ok(())
//! ```

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::config::{ConfigFile, PolicyNetKind, TrainConfig};
use crate::data::RewardMode;
use crate::nn::Activation;

/// The MuJoCo locomotion tasks of the paper's table.
const LOCOMOTION: [&str; 9] = [
    "halfcheetah-medium-v2",
    "hopper-medium-v2",
    "walker2d-medium-v2",
    "halfcheetah-medium-replay-v2",
    "hopper-medium-replay-v2",
    "walker2d-medium-replay-v2",
    "halfcheetah-medium-expert-v2",
    "hopper-medium-expert-v2",
    "walker2d-medium-expert-v2",
];

/// Minari's MuJoCo datasets of the same environments (gymnasium v5), with the locomotion
/// settings: the paper has no results on them.
const MINARI: [&str; 9] = [
    "mujoco/halfcheetah/simple-v0",
    "mujoco/halfcheetah/medium-v0",
    "mujoco/halfcheetah/expert-v0",
    "mujoco/hopper/simple-v0",
    "mujoco/hopper/medium-v0",
    "mujoco/hopper/expert-v0",
    "mujoco/walker2d/simple-v0",
    "mujoco/walker2d/medium-v0",
    "mujoco/walker2d/expert-v0",
];

/// The antmaze tasks of the paper's table.
const ANTMAZE: [&str; 2] = ["antmaze-umaze-diverse-v2", "antmaze-large-diverse-v2"];

/// The tiny preset that exercises every stage in a couple of minutes, even on a CPU driver.
pub const SMOKE: &str = "smoke";

/// QIPO's demonstration on a CPU driver (README, "QIPO against flow behaviour cloning on a
/// CPU").
pub const DEMO: &str = "demo";

/// Every preset name, the D4RL tasks first, then Minari's.
pub fn preset_names() -> Vec<&'static str> {
    LOCOMOTION.iter().chain(&ANTMAZE).chain(&MINARI).copied().chain([SMOKE, DEMO]).collect()
}

/// The named preset, with `preset` set to its name.
pub fn preset(name: &str) -> Result<TrainConfig> {
    let mut config = if LOCOMOTION.contains(&name) || MINARI.contains(&name) {
        locomotion()
    } else if ANTMAZE.contains(&name) {
        antmaze()
    } else if name == SMOKE {
        smoke()
    } else if name == DEMO {
        demo()
    } else {
        return Err(anyhow!("unknown preset '{name}': expected one of {}", preset_names().join(", ")));
    };
    config.preset = name.to_string();
    Ok(config)
}

impl TrainConfig {
    /// The named preset (see [`preset_names`]).
    pub fn from_preset(name: &str) -> Result<Self> {
        preset(name)
    }

    /// A config file on top of the defaults, or on top of the preset the file names.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        resolve(None, Some(path), &[])
    }
}

/// The full config from its layers, later ones winning: the preset, the config file (which
/// may name a preset itself), then each `key=value` override in order. The result is validated.
pub fn resolve(preset: Option<&str>, file: Option<&Path>, overrides: &[String]) -> Result<TrainConfig> {
    let mut config = match file {
        Some(path) => {
            let file = ConfigFile::read(path)?;
            let preset = match (preset, file.preset()) {
                (Some(given), Some(named)) if given != named => bail!(
                    "config file {} names preset '{named}' but preset '{given}' was also given; keep one",
                    path.display()
                ),
                (given, named) => given.or(named),
            };
            let base = match preset {
                Some(name) => {
                    TrainConfig::from_preset(name).with_context(|| format!("config file {}", path.display()))?
                }
                None => TrainConfig::default(),
            };
            file.apply_to(base)?
        }
        None => match preset {
            Some(name) => TrainConfig::from_preset(name)?,
            None => TrainConfig::default(),
        },
    };
    for assignment in overrides {
        config.apply_override(assignment)?;
    }
    config.validate()?;
    Ok(config)
}

/// The preset for a dataset file such as `…/hopper-medium-replay-v2.hdf5`: the first name in
/// the path, from the file name up through its folders, that is or contains a task preset's
/// name (case-insensitive); or a Minari id with a preset, or its `main_data.hdf5` in a Minari
/// cache. `None` when no task matches; `smoke` is never chosen this way.
pub fn preset_for_dataset(path: &Path) -> Option<&'static str> {
    let text = path.to_string_lossy().replace('\\', "/");
    let minari = MINARI.iter().copied().find(|id| text == *id || text.ends_with(&format!("/{id}/data/main_data.hdf5")));
    if let Some(id) = minari {
        return Some(id);
    }
    let tasks: Vec<&'static str> = LOCOMOTION.iter().chain(&ANTMAZE).copied().collect();
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase());
    let folders = path.parent().into_iter().flat_map(|p| p.components().rev());
    let names = stem.into_iter().chain(folders.map(|c| c.as_os_str().to_string_lossy().to_lowercase()));
    names.into_iter().find_map(|name| {
        // The longest match wins, so that no shorter task name hides inside a longer one.
        tasks.iter().filter(|task| name.contains(*task)).max_by_key(|task| task.len()).copied()
    })
}

/// What every task preset shares: QGPO's behaviour network and its training, its critic's.
pub fn paper() -> TrainConfig {
    let mut config = TrainConfig::default();
    // QGPO's ScoreNet (diffusion_SDE/model.py), read as a velocity field.
    config.policy_net.kind = PolicyNetKind::Resnet;
    config.policy_net.hidden = vec![512, 256, 128];
    config.policy_net.activation = Activation::Silu;
    config.policy_net.time_features = 32;
    config.policy_net.time_scale = 30.0;
    config.policy_net.cond_width = 32;
    config.policy_net.embed_width = 128;
    // train_behavior.py: 600 epochs of 1000 steps on batches of 4096, Adam at 1e-4.
    config.behaviour.steps = 600_000;
    config.behaviour.batch = 4096;
    config.behaviour.lr = 1e-4;
    // train_critic.py and model.py: the Q networks train 50 epochs of 10,000 steps on batches
    // of 256, Adam at 3e-4, gamma 0.99, tau 0.005; twin heads of 3×256 ReLU layers.
    config.critic.steps = 500_000;
    config.critic.batch = 256;
    config.critic.lr = 3e-4;
    config.critic.gamma = 0.99;
    config.critic.tau = 0.005;
    config.critic_net.hidden = vec![256, 256, 256];
    config.critic_net.activation = Activation::Relu;
    config.run.eval_every = EVAL_EVERY;
    config
}

/// MuJoCo locomotion: QGPO's settings, rewards scaled so episode returns span 1000.
fn locomotion() -> TrainConfig {
    let mut config = paper();
    config.data.reward_normalization = RewardMode::Locomotion;
    // train_critic.py: 16 support actions per state for locomotion.
    config.support.actions = 16;
    config.policy.beta = 3.0;
    config
}

/// Steps between evaluations in the task presets: about ten points per stage's curve.
const EVAL_EVERY: u64 = 20_000;

/// Antmaze: sparse rewards shifted to `r - 1`, a larger support set for its multimodal actions.
fn antmaze() -> TrainConfig {
    let mut config = paper();
    config.data.reward_normalization = RewardMode::AntMaze;
    // train_critic.py: 32 support actions per state for antmaze.
    config.support.actions = 32;
    // IQL's antmaze expectile, used only when the critic is switched to `iql`.
    config.critic.expectile = 0.9;
    config
}

/// The locomotion settings at a size a 2-core CPU driver trains in well under an hour for
/// three seeds and two values of β: a 2×128 MLP policy, a 2×64 critic, 5 000 behaviour and
/// critic steps, 1 000 policy steps with a renewal every 500, M = 8, evaluations of 20
/// episodes every 500 steps. Made for data whose states hold the actions of two policies of
/// different quality (`data/make_epsilon_dataset.py --other`): there the critic has the
/// alternatives at every state, and the weights pick the better policy's mode.
fn demo() -> TrainConfig {
    let mut config = locomotion();
    config.policy_net.kind = PolicyNetKind::Mlp;
    config.policy_net.hidden = vec![128, 128];
    config.policy_net.activation = Activation::Mish;
    config.critic_net.hidden = vec![64, 64];
    config.behaviour.steps = 5000;
    config.behaviour.batch = 128;
    config.behaviour.lr = 1e-3;
    config.behaviour.max_grad_norm = 0.0;
    config.support.actions = 8;
    config.support.euler_steps = 10;
    config.critic.steps = 5000;
    config.critic.batch = 128;
    config.critic.lr = 1e-3;
    config.critic.tau = 0.02;
    config.critic.alpha_q = 1.0;
    config.policy.steps = 1000;
    config.policy.renew_every = 500;
    config.policy.batch = 64;
    config.policy.lr = 3e-4;
    config.run.log_every = 250;
    config.run.checkpoint_every = 500;
    config.run.eval_every = 500;
    config.run.eval_episodes = 20;
    config
}

/// Small networks and about a thousand steps per stage: a run through every stage in about a
/// minute on a CPU driver, long enough for the improved policy's mean Q to rise above the
/// behaviour policy's on the shipped dataset, not to learn anything worth evaluating.
/// Learning rates are raised so that losses visibly move.
fn smoke() -> TrainConfig {
    let mut config = TrainConfig::default();
    config.policy_net.hidden = vec![64, 64];
    config.policy_net.time_features = 16;
    config.critic_net.hidden = vec![64, 64];
    config.behaviour.steps = 1000;
    config.behaviour.batch = 64;
    config.behaviour.lr = 1e-3;
    config.support.actions = 4;
    config.support.euler_steps = 5;
    config.critic.steps = 1500;
    config.critic.batch = 64;
    config.critic.lr = 1e-3;
    config.policy.steps = 600;
    config.policy.renew_every = 200;
    config.policy.batch = 64;
    config.policy.lr = 1e-3;
    config.run.log_every = 50;
    config.run.checkpoint_every = 500;
    config.run.eval_episodes = 2;
    config
}
