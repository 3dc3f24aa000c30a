//! Layering preset < config file < overrides, and the errors for bad keys, values and files.

use std::path::{Path, PathBuf};

use qipo::data::Env;
use qipo::envs::{EnvSpec, GymVersion};
use qipo::nn::Activation;
use qipo::rl::config::{CriticKind, TrainConfig};
use qipo::rl::presets::resolve;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error_of<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
    format!("{:#}", result.unwrap_err())
}

#[test]
fn later_layers_win() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "run.toml", "seed = 7\n[policy]\nbeta = 4.0\nsteps = 50\n");
    let overrides = ["policy.beta=5".to_string()];
    let config = resolve(Some("antmaze-umaze-diverse-v2"), Some(&file), &overrides).unwrap();
    assert_eq!(config.preset, "antmaze-umaze-diverse-v2");
    assert_eq!(config.support.actions, 32, "from the preset");
    assert_eq!((config.seed, config.policy.steps), (7, 50), "from the file");
    assert_eq!(config.policy.beta, 5.0, "from the override");
    assert_eq!(config.policy.renew_every, 20_000, "untouched default");
}

#[test]
fn a_config_file_may_name_its_preset() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "run.toml", "preset = \"smoke\"\n[critic]\nsteps = 20\n");
    let config = TrainConfig::from_toml_file(&file).unwrap();
    assert_eq!(config.preset, "smoke");
    assert_eq!(config.support.actions, 4);
    assert_eq!(config.critic.steps, 20);
    // The same preset given twice is fine; two different ones are ambiguous.
    assert_eq!(resolve(Some("smoke"), Some(&file), &[]).unwrap(), config);
    let message = error_of(resolve(Some("hopper-medium-v2"), Some(&file), &[]));
    assert!(message.contains("'smoke'") && message.contains("'hopper-medium-v2'"), "{message}");
}

#[test]
fn nothing_given_is_the_defaults() {
    assert_eq!(resolve(None, None, &[]).unwrap(), TrainConfig::default());
}

#[test]
fn overrides_reach_every_kind_of_field() {
    let mut config = TrainConfig::default();
    for assignment in [
        "seed=42",
        "policy_net.hidden=[128, 64]",
        "policy_net.activation=silu",
        "critic.kind=iql",
        "critic.kind=\"softmax\"",
        "critic.alpha_q=0",
        "data.reward_normalization=antmaze",
        "data.normalize_observations=true",
        " run.log_every = 10 ",
    ] {
        config.apply_override(assignment).unwrap_or_else(|e| panic!("{assignment}: {e:#}"));
    }
    assert_eq!(config.seed, 42);
    assert_eq!(config.policy_net.hidden, [128, 64]);
    assert_eq!(config.policy_net.activation, Activation::Silu);
    assert_eq!(config.critic.kind, CriticKind::Softmax);
    assert_eq!(config.critic.alpha_q, 0.0);
    assert!(config.data.normalize_observations);
    assert_eq!(config.run.log_every, 10);
}

#[test]
fn bad_overrides_name_the_key() {
    let mut config = TrainConfig::default();
    let before = config.clone();
    let cases = [
        ("policy.bta=5", "unknown setting 'policy.bta'"),
        ("polcy.beta=5", "unknown setting 'polcy.beta'"),
        ("seed.low=1", "unknown setting 'seed.low'"),
        ("policy.beta=high", "'policy.beta'"),
        ("policy.steps=-3", "'policy.steps'"),
        ("behaviour.steps=1.5", "'behaviour.steps'"),
        ("critic.kind=ddpg", "'critic.kind'"),
        ("policy=3", "'policy' is a section"),
        ("policy.renew_every=0", "policy.renew_every must be at least 1"),
        ("critic.gamma=1.5", "critic.gamma"),
        ("policy_net.time_features=31", "policy_net.time_features"),
        ("policy_net.hidden=[64, 0]", "policy_net.hidden[1]"),
        ("policy.beta", "key=value"),
        ("=5", "no key"),
        ("preset=smoke", "'preset'"),
        ("run.eval_env=cartpole", "'run.eval_env': unknown environment 'cartpole'"),
    ];
    for (assignment, expected) in cases {
        let message = error_of(config.apply_override(assignment));
        assert!(message.contains(expected), "{assignment}: {message}");
        assert!(!message.contains('\n'), "{assignment}: not one line: {message}");
    }
    assert_eq!(config, before, "a failed override must leave the config as it was");
}

#[test]
fn bad_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown.toml", "[policy]\nbta = 5\n", "unknown setting 'policy.bta'"),
        ("section.toml", "[polcy]\nbeta = 5\n", "unknown setting 'polcy'"),
        ("type.toml", "seed = 1\n[policy]\nbeta = \"high\"\n", "line 3"),
        ("syntax.toml", "[policy\nbeta = 5\n", "line 1"),
        ("invalid.toml", "[critic]\ntau = 0\n", "critic.tau"),
        ("preset.toml", "preset = \"nope\"\n", "unknown preset 'nope'"),
        ("env.toml", "[run]\neval_env = \"antmaze\"\n", "line 2: 'antmaze': which AntMaze layout?"),
    ];
    for (name, text, expected) in cases {
        let path = write(dir.path(), name, text);
        let message = error_of(resolve(None, Some(&path), &[]));
        assert!(message.contains(name), "{name}: {message}");
        assert!(message.contains(expected), "{name}: {message}");
    }
    let missing = dir.path().join("missing.toml");
    let message = error_of(TrainConfig::from_toml_file(&missing));
    assert!(message.contains("missing.toml"), "{message}");
}

#[test]
fn the_evaluation_environment_is_parsed_and_written_back_as_given() {
    let mut config = TrainConfig::default();
    assert_eq!(config.run.eval_env.spec(), None);
    config.apply_override("run.eval_env=Walker2d-v4").unwrap();
    let walker = EnvSpec::Locomotion { env: Env::Walker2d, version: GymVersion::V4 };
    assert_eq!(config.run.eval_env.spec(), Some(walker));
    // The name as given, not its canonical form: the settings' checksum is that of the text.
    let text = config.to_toml_string().unwrap();
    assert!(text.contains("eval_env = \"Walker2d-v4\""), "{text}");
    assert_eq!(TrainConfig::from_toml_str(&text).unwrap(), config);
}

#[test]
fn validation_names_the_first_bad_field() {
    let mut config = TrainConfig::default();
    config.policy.renew_every = 0;
    config.run.log_every = 0;
    assert_eq!(config.validate().unwrap_err().to_string(), "policy.renew_every must be at least 1");
    let mut config = TrainConfig::default();
    config.behaviour.lr = f64::NAN;
    assert!(config.validate().unwrap_err().to_string().starts_with("behaviour.lr"));
    let config = TrainConfig { seed: u64::MAX, ..TrainConfig::default() };
    assert!(config.validate().unwrap_err().to_string().starts_with("seed"));
}
