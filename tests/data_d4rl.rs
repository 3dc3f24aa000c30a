//! Reading D4RL v2 files: the shipped file, the published layout, and the variants of older
//! files (float64 arrays, uint8 flags, no next_observations, no timeouts).

mod data_support;

use data_support::{scratch_dir, shipped_dataset, write_d4rl, D4rlLayout, Steps};
use qipo::data::{Dataset, Env, EpisodeEnd, Format};

#[test]
fn shipped_file_loads_every_row_as_stored() {
    let path = shipped_dataset();
    let steps = Steps::read_d4rl(&path);
    let dataset = Dataset::load(&path).unwrap();

    assert_eq!(dataset.format, Format::D4rl);
    assert_eq!(dataset.env, Some(Env::Hopper));
    assert_eq!((dataset.obs_dim, dataset.act_dim), (11, 3));
    assert_eq!(dataset.len(), 20_000);
    assert_eq!(dataset.observations, steps.observations);
    assert_eq!(dataset.actions, steps.actions);
    assert_eq!(dataset.rewards, steps.rewards);
    assert_eq!(dataset.next_observations, steps.next_observations);
    let done: Vec<f32> = steps.terminals.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
    assert_eq!(dataset.terminals, done, "done is the terminal flag only, never a timeout");
    assert!(dataset.warnings.is_empty(), "{:?}", dataset.warnings);
}

#[test]
fn episodes_end_at_terminals_and_timeouts() {
    let dir = scratch_dir();
    let path = dir.path().join("tiny.hdf5");
    write_d4rl(&path, &Steps::tiny(), D4rlLayout::V2);
    let dataset = Dataset::load(&path).unwrap();

    assert_eq!(dataset.len(), 7);
    let spans: Vec<_> = dataset.episodes.iter().map(|e| (e.start, e.end, e.steps, e.ending)).collect();
    assert_eq!(
        spans,
        [(0, 3, 3, EpisodeEnd::Timeout), (3, 5, 2, EpisodeEnd::Terminal), (5, 7, 2, EpisodeEnd::Unfinished)]
    );
    assert_eq!(dataset.episode_returns(), [6.0, 9.0, 13.0]);
    assert_eq!(dataset.terminals, [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(dataset.next_observation(2), [104.0, 105.0], "stored next state at a timeout");
}

#[test]
fn without_next_observations_transitions_are_rebuilt_like_qlearning_dataset() {
    let steps = Steps::tiny();
    let dir = scratch_dir();
    let path = dir.path().join("tiny-no-next.hdf5");
    write_d4rl(&path, &steps, D4rlLayout { next_observations: false, ..D4rlLayout::V2 });
    let dataset = Dataset::load(&path).unwrap();

    // Row 2 is a timeout (its successor starts another episode) and row 6 has no successor.
    let kept = [0, 1, 3, 4, 5];
    assert_eq!(dataset.len(), kept.len());
    for (transition, &row) in kept.iter().enumerate() {
        assert_eq!(dataset.observation(transition), steps.observation(row));
        assert_eq!(dataset.next_observation(transition), steps.observation(row + 1));
        assert_eq!(dataset.action(transition), steps.action(row));
        assert_eq!(dataset.rewards[transition], steps.rewards[row]);
    }
    assert_eq!(dataset.terminals, [0.0, 0.0, 0.0, 1.0, 0.0]);

    // Episodes keep their full returns and step counts; only their transition ranges shrink.
    let spans: Vec<_> = dataset.episodes.iter().map(|e| (e.start, e.end, e.steps)).collect();
    assert_eq!(spans, [(0, 2, 3), (2, 4, 2), (4, 5, 2)]);
    assert_eq!(dataset.episode_returns(), [6.0, 9.0, 13.0]);
}

#[test]
fn float64_and_uint8_variant_of_the_shipped_file_matches_the_rebuild() {
    let steps = Steps::read_d4rl(&shipped_dataset());
    let dir = scratch_dir();
    let path = dir.path().join("hopper-float64-uint8.hdf5");
    let layout = D4rlLayout { float64: true, uint8_flags: true, next_observations: false, timeouts: true };
    write_d4rl(&path, &steps, layout);
    let dataset = Dataset::load(&path).unwrap();

    let kept: Vec<usize> = (0..steps.rows() - 1).filter(|&row| !steps.timeouts[row]).collect();
    assert_eq!(dataset.len(), kept.len());
    for (transition, &row) in kept.iter().enumerate() {
        assert_eq!(dataset.observation(transition), steps.observation(row));
        assert_eq!(dataset.next_observation(transition), steps.observation(row + 1));
        assert_eq!(dataset.action(transition), steps.action(row));
        assert_eq!(dataset.rewards[transition], steps.rewards[row]);
        assert_eq!(dataset.terminals[transition] == 1.0, steps.terminals[row]);
    }
    let original = Dataset::load(shipped_dataset()).unwrap();
    assert_eq!(dataset.episode_returns(), original.episode_returns());
    assert_eq!(dataset.env, Some(Env::Hopper), "the environment comes from the file name");
}

#[test]
fn missing_timeouts_split_episodes_at_terminals_only_with_a_warning() {
    let dir = scratch_dir();
    let path = dir.path().join("no-timeouts.hdf5");
    write_d4rl(&path, &Steps::tiny(), D4rlLayout { timeouts: false, ..D4rlLayout::V2 });
    let dataset = Dataset::load(&path).unwrap();

    assert_eq!(dataset.len(), 7);
    assert_eq!(dataset.episode_returns(), [15.0, 13.0]);
    assert!(dataset.warnings.iter().any(|w| w.contains("timeouts")), "{:?}", dataset.warnings);
}

#[test]
fn actions_outside_the_bounds_give_a_warning_not_an_error() {
    let mut steps = Steps::tiny();
    steps.actions[3] = 1.5;
    steps.actions[5] = -1.0005; // within the tolerance: not reported
    let dir = scratch_dir();
    let path = dir.path().join("wide-actions.hdf5");
    write_d4rl(&path, &steps, D4rlLayout::V2);
    let dataset = Dataset::load(&path).unwrap();

    assert_eq!(dataset.warnings.len(), 1, "{:?}", dataset.warnings);
    let warning = &dataset.warnings[0];
    assert!(warning.contains("1 of 7 values outside [-1, 1]") && warning.contains("row 3"), "{warning}");
}
