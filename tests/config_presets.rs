//! Every preset is valid, survives a TOML round trip, and follows ALGORITHM.md's defaults.

use std::path::Path;

use qipo::data::RewardMode;
use qipo::nn::Activation;
use qipo::rl::config::{CriticKind, PolicyNetKind, TrainConfig};
use qipo::rl::presets::{preset_for_dataset, preset_names};

#[test]
fn every_preset_validates_and_round_trips_through_toml() {
    for name in preset_names() {
        let config = TrainConfig::from_preset(name).unwrap();
        assert_eq!(config.preset, name);
        config.validate().unwrap_or_else(|e| panic!("preset {name}: {e:#}"));
        let text = config.to_toml_string().unwrap();
        let back = TrainConfig::from_toml_str(&text).unwrap_or_else(|e| panic!("preset {name}: {e:#}\n{text}"));
        assert_eq!(back, config, "preset {name} changed through TOML");
    }
}

#[test]
fn the_paper_tasks_and_smoke_are_presets() {
    let names = preset_names();
    for task in [
        "halfcheetah-medium-v2",
        "hopper-medium-v2",
        "walker2d-medium-v2",
        "halfcheetah-medium-replay-v2",
        "hopper-medium-replay-v2",
        "walker2d-medium-replay-v2",
        "halfcheetah-medium-expert-v2",
        "hopper-medium-expert-v2",
        "walker2d-medium-expert-v2",
        "antmaze-umaze-diverse-v2",
        "antmaze-large-diverse-v2",
        "smoke",
        "demo",
    ] {
        assert!(names.contains(&task), "no preset {task}");
    }
}

#[test]
fn defaults_follow_the_algorithm_notes() {
    let config = TrainConfig::default();
    assert_eq!(config.policy_net.hidden, [256, 256, 256]);
    assert_eq!(config.policy_net.activation, Activation::Mish);
    assert_eq!((config.policy_net.time_features, config.policy_net.time_scale), (32, 30.0));
    assert_eq!(config.critic_net.activation, Activation::Relu);
    assert_eq!((config.critic.lr, config.policy.lr, config.behaviour.lr), (3e-4, 1e-4, 1e-4));
    assert_eq!((config.critic.gamma, config.critic.tau), (0.99, 0.005));
    assert_eq!(config.critic.kind, CriticKind::Softmax);
    assert_eq!((config.behaviour.steps, config.critic.steps), (200_000, 500_000));
    config.validate().unwrap();
}

#[test]
fn locomotion_and_antmaze_presets_differ_where_the_notes_say() {
    let hopper = TrainConfig::from_preset("hopper-medium-v2").unwrap();
    // QGPO's behaviour network and training (the README's table gives the sources).
    assert_eq!(hopper.policy_net.kind, PolicyNetKind::Resnet);
    assert_eq!(hopper.policy_net.hidden, [512, 256, 128]);
    assert_eq!((hopper.behaviour.steps, hopper.behaviour.batch, hopper.behaviour.lr), (600_000, 4096, 1e-4));
    assert_eq!((hopper.critic.steps, hopper.critic.batch, hopper.critic.lr), (500_000, 256, 3e-4));
    assert_eq!(hopper.policy_net.ema, 0.0, "QGPO keeps no average of the weights");
    assert_eq!(hopper.support.actions, 16);
    assert_eq!(hopper.policy.beta, 3.0);
    assert_eq!(hopper.data.reward_normalization, RewardMode::Locomotion);

    let antmaze = TrainConfig::from_preset("antmaze-large-diverse-v2").unwrap();
    assert_eq!(antmaze.support.actions, 32);
    assert_eq!(antmaze.data.reward_normalization, RewardMode::AntMaze);
    assert_eq!(antmaze.critic.gamma, 0.99);
    assert_eq!(antmaze.critic.kind, CriticKind::Softmax);
}

/// The demonstration: QIPO (β > 0, renewals) against flow BC at a size a CPU trains, on the
/// shipped mixed-quality hopper data, which names its environment and no paper task.
#[test]
fn demo_is_a_cpu_sized_qipo_run_on_the_shipped_mixed_data() {
    let demo = TrainConfig::from_preset("demo").unwrap();
    assert_eq!(demo.policy_net.kind, PolicyNetKind::Mlp);
    assert!(demo.policy_net.hidden.iter().all(|&w| w <= 128) && demo.critic_net.hidden.iter().all(|&w| w <= 64));
    assert!(demo.behaviour.steps <= 5000 && demo.critic.steps <= 5000 && demo.policy.steps <= 1000);
    assert!(demo.policy.beta > 0.0 && demo.policy.renew_every < demo.policy.steps, "a renewal from the policy");
    assert!(demo.run.eval_every > 0 && demo.run.eval_every <= demo.policy.renew_every, "evaluated at every renewal");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hopper-expert-medium-mix.hdf5");
    let summary = qipo::data::stats::Summary::of(&qipo::data::Dataset::load(&data).unwrap());
    assert_eq!((summary.transitions, summary.episodes), (20000, 54));
    assert_eq!(summary.env, Some(qipo::data::Env::Hopper));
    assert!((summary.normalized_score.unwrap() - 34.9).abs() < 0.05, "{summary:?}");
    assert_eq!(preset_for_dataset(&data), None, "the demo is asked for by name");
}

#[test]
fn smoke_is_tiny() {
    let smoke = TrainConfig::from_preset("smoke").unwrap();
    assert!(smoke.behaviour.steps <= 2000 && smoke.critic.steps <= 2000 && smoke.policy.steps <= 2000);
    assert!(smoke.policy.renew_every < smoke.policy.steps, "smoke must exercise a support renewal");
    assert!(smoke.run.checkpoint_every < smoke.behaviour.steps, "smoke must write a checkpoint mid-stage");
    assert!(smoke.policy_net.hidden.iter().all(|&w| w <= 64));
}

#[test]
fn an_unknown_preset_lists_the_known_ones() {
    let message = TrainConfig::from_preset("hopper-v9").unwrap_err().to_string();
    assert!(message.contains("unknown preset 'hopper-v9'"), "{message}");
    assert!(message.contains("hopper-medium-replay-v2") && message.contains("smoke"), "{message}");
}

#[test]
fn dataset_files_find_their_preset() {
    let find = |path: &str| preset_for_dataset(Path::new(path));
    assert_eq!(find("data/hopper-medium-replay-v2.hdf5"), Some("hopper-medium-replay-v2"));
    assert_eq!(find("/d4rl/Walker2d-Medium-Expert-v2.hdf5"), Some("walker2d-medium-expert-v2"));
    assert_eq!(find("hopper-medium-v2.hdf5"), Some("hopper-medium-v2"));
    assert_eq!(find("antmaze-umaze-diverse-v2/data.hdf5"), Some("antmaze-umaze-diverse-v2"));
    assert_eq!(find("runs/my-points.hdf5"), None);
    assert_eq!(find("smoke.hdf5"), None);
    // Minari's MuJoCo datasets, by id or by their file in a cache.
    assert_eq!(find("mujoco/hopper/medium-v0"), Some("mujoco/hopper/medium-v0"));
    assert_eq!(
        find("/home/me/.minari/datasets/mujoco/walker2d/expert-v0/data/main_data.hdf5"),
        Some("mujoco/walker2d/expert-v0")
    );
    assert_eq!(find("mujoco/hopper/tiny-v0"), None);
}
