//! Reading Minari files: the shipped D4RL data converted to Minari's per-episode layout must
//! give the same transitions and episodes.

mod data_support;

use data_support::{assert_names_file, create_file, scratch_dir, shipped_dataset, write_array, write_minari, Steps};
use qipo::data::{Dataset, EpisodeEnd, Format};

#[test]
fn minari_conversion_of_the_shipped_data_gives_the_same_transitions() {
    let steps = Steps::read_d4rl(&shipped_dataset());
    let dir = scratch_dir();
    // Minari's own path, so that the environment is found in the folder names.
    let path = dir.path().join("mujoco/hopper/medium-replay-v0/data/main_data.hdf5");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_minari(&path, &steps);

    let minari = Dataset::load(&path).unwrap();
    let d4rl = Dataset::load(shipped_dataset()).unwrap();
    assert_eq!(minari.format, Format::Minari);
    assert_eq!(minari.env, d4rl.env);
    assert_eq!((minari.obs_dim, minari.act_dim), (d4rl.obs_dim, d4rl.act_dim));
    assert_eq!(minari.observations, d4rl.observations);
    assert_eq!(minari.actions, d4rl.actions);
    assert_eq!(minari.rewards, d4rl.rewards);
    assert_eq!(minari.next_observations, d4rl.next_observations);
    assert_eq!(minari.terminals, d4rl.terminals);
    // More than ten episodes: the groups are ordered by id, not by name (episode_10 > episode_9).
    assert!(minari.episodes.len() > 10);
    assert_eq!(minari.episodes, d4rl.episodes);
}

#[test]
fn minari_episode_endings_come_from_the_last_step() {
    let steps = Steps::tiny();
    let dir = scratch_dir();
    let path = dir.path().join("main_data.hdf5");
    write_minari(&path, &steps);
    let dataset = Dataset::load(&path).unwrap();

    let endings: Vec<_> = dataset.episodes.iter().map(|e| e.ending).collect();
    assert_eq!(endings, [EpisodeEnd::Timeout, EpisodeEnd::Terminal, EpisodeEnd::Unfinished]);
    // obs[t + 1] is the next state, also at the end of each episode.
    assert_eq!(dataset.next_observation(2), steps.next_observation(2));
    assert_eq!(dataset.next_observation(1), steps.observation(2));
    assert_eq!(dataset.env, None);
}

#[test]
fn dict_observations_are_refused_with_a_clear_error() {
    let dir = scratch_dir();
    let path = dir.path().join("antmaze-main_data.hdf5");
    {
        let file = create_file(&path);
        let episode = file.create_group("episode_0").unwrap();
        let observations = episode.create_group("observations").unwrap();
        write_array(&observations, "observation", &[0.0_f32; 6], &[3, 2]);
        write_array(&observations, "desired_goal", &[0.0_f32; 6], &[3, 2]);
        write_array(&episode, "actions", &[0.0_f32; 4], &[2, 2]);
        write_array(&episode, "rewards", &[0.0_f64; 2], &[2]);
        write_array(&episode, "terminations", &[false; 2], &[2]);
        write_array(&episode, "truncations", &[false, true], &[2]);
    }
    let message = format!("{:#}", Dataset::load(&path).unwrap_err());
    assert_names_file(&message, &path);
    assert!(message.contains("episode_0/observations") && message.contains("dict"), "{message}");
    assert!(message.contains("desired_goal"), "{message}");
}
