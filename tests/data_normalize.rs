//! Reward and observation normalisation: fitted on the dataset, recorded, applied again later.

mod data_support;

use data_support::{load_tiny, scratch_dir, write_d4rl, D4rlLayout, Steps};
use qipo::data::{
    Dataset, Normalization, ObservationNormalization, RewardMode, RewardNormalization, OBSERVATION_STD_FLOOR,
};

#[test]
fn locomotion_rewards_span_1000_over_the_episode_return_range() {
    let (_dir, mut dataset) = load_tiny("hopper-tiny.hdf5");
    let normalization = Normalization::fit(&dataset, RewardMode::Auto, false).unwrap();
    let factor = 1000.0 / (13.0 - 6.0);
    assert_eq!(normalization.reward, RewardNormalization::Scale { factor });
    normalization.apply(&mut dataset).unwrap();
    assert!((dataset.rewards[1] - (2.0 * factor) as f32).abs() < 1e-4);
    assert_eq!(dataset.episode_returns(), [6.0, 9.0, 13.0], "episode returns stay raw");
}

#[test]
fn antmaze_rewards_shift_by_minus_one_and_unknown_envs_stay_raw() {
    let (_dir, mut dataset) = load_tiny("antmaze-umaze-tiny.hdf5");
    let normalization = Normalization::fit(&dataset, RewardMode::Auto, false).unwrap();
    assert_eq!(normalization.reward, RewardNormalization::Shift { offset: -1.0 });
    normalization.apply(&mut dataset).unwrap();
    assert_eq!(dataset.rewards[0], 0.0);

    let (_dir, dataset) = load_tiny("custom.hdf5");
    let normalization = Normalization::fit(&dataset, RewardMode::Auto, false).unwrap();
    assert_eq!(normalization.reward, RewardNormalization::None);
    let forced = Normalization::fit(&dataset, RewardMode::Locomotion, false).unwrap();
    assert!(matches!(forced.reward, RewardNormalization::Scale { .. }));
}

#[test]
fn equal_episode_returns_cannot_be_scaled() {
    let mut steps = Steps::tiny();
    steps.rewards = vec![1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5];
    let dir = scratch_dir();
    let path = dir.path().join("hopper-flat.hdf5");
    write_d4rl(&path, &steps, D4rlLayout::V2);
    let dataset = Dataset::load(&path).unwrap();
    let err = Normalization::fit(&dataset, RewardMode::Locomotion, false).unwrap_err();
    assert!(err.to_string().contains("every episode returns 3"), "{err}");
}

#[test]
fn observation_normalization_uses_dataset_mean_and_floored_std() {
    let mut steps = Steps::tiny();
    // Feature 1 is constant: its std is floored instead of dividing by zero.
    for row in 0..steps.rows() {
        steps.observations[row * 2 + 1] = 4.0;
    }
    let dir = scratch_dir();
    let path = dir.path().join("hopper-constant-feature.hdf5");
    write_d4rl(&path, &steps, D4rlLayout::V2);
    let mut dataset = Dataset::load(&path).unwrap();

    let observations = ObservationNormalization::fit(&dataset);
    let feature0: Vec<f64> = (0..7).map(|row| f64::from(steps.observations[row * 2])).collect();
    let mean0 = feature0.iter().sum::<f64>() / 7.0;
    let std0 = (feature0.iter().map(|x| (x - mean0).powi(2)).sum::<f64>() / 7.0).sqrt();
    assert!((observations.mean[0] as f64 - mean0).abs() < 1e-6);
    assert!((observations.std[0] as f64 - std0).abs() < 1e-6);
    assert_eq!((observations.mean[1], observations.std[1]), (4.0, OBSERVATION_STD_FLOOR));

    let normalization = Normalization::fit(&dataset, RewardMode::None, true).unwrap();
    let mut from_env = dataset.next_observation(3).to_vec();
    normalization.apply(&mut dataset).unwrap();
    normalization.apply_to_observations(&mut from_env);
    assert_eq!(from_env, dataset.next_observation(3), "evaluation sees the same transform");
    assert_eq!(dataset.observation(0)[1], 0.0);
}

#[test]
fn normalization_round_trips_through_json() {
    let (_dir, dataset) = load_tiny("hopper-tiny.hdf5");
    let normalization = Normalization::fit(&dataset, RewardMode::Auto, true).unwrap();
    let text = serde_json::to_string(&normalization).unwrap();
    let restored: Normalization = serde_json::from_str(&text).unwrap();
    assert_eq!(restored, normalization);
    assert!(text.contains(r#""kind":"scale""#), "{text}");
}
