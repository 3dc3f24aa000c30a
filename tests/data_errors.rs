//! Every kind of bad input gives one error line naming the file and the problem, both from the
//! library and from `qipo dataset inspect` (exit status 1, `error: <file>: <problem>`), and
//! never a panic.

mod data_support;

use std::path::{Path, PathBuf};

use data_support::{
    append_file, assert_names_file, create_file, qipo, scratch_dir, shipped_dataset, write_array, write_d4rl,
    write_minari, D4rlLayout, Steps,
};
use qipo::data::Dataset;

/// A file the loader must refuse, and words its error must contain.
struct BadInput {
    path: PathBuf,
    expected: &'static [&'static str],
}

/// Writes `steps` as D4RL after `edit` changes them (for value problems).
fn d4rl_with(dir: &Path, name: &str, edit: impl FnOnce(&mut Steps)) -> PathBuf {
    let mut steps = Steps::tiny();
    edit(&mut steps);
    let path = dir.join(name);
    write_d4rl(&path, &steps, D4rlLayout::V2);
    path
}

/// Writes a D4RL file from the tiny steps, then lets `edit` change the file itself.
fn d4rl_file_with(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> PathBuf {
    let path = dir.join(name);
    write_d4rl(&path, &Steps::tiny(), D4rlLayout::V2);
    let file = append_file(&path);
    edit(&file);
    path
}

fn bad_inputs(dir: &Path) -> Vec<BadInput> {
    let mut cases = Vec::new();
    let mut add = |path: PathBuf, expected: &'static [&'static str]| {
        cases.push(BadInput { path, expected });
    };

    add(dir.join("no-such-file.hdf5"), &["file not found"]);
    add(dir.to_path_buf(), &["directory"]);

    let empty = dir.join("empty.hdf5");
    std::fs::write(&empty, b"").unwrap();
    add(empty, &["empty file"]);

    let text = dir.join("notes.hdf5");
    std::fs::write(&text, "observations,actions\n1,2\n").unwrap();
    add(text, &["not an HDF5 file"]);

    let truncated = dir.join("truncated.hdf5");
    let bytes = std::fs::read(shipped_dataset()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    add(truncated, &["truncated"]);

    let unrelated = dir.join("unrelated.hdf5");
    create_file(&unrelated).create_group("images").unwrap();
    add(unrelated, &["neither a D4RL file", "nor a Minari file"]);

    let no_rows = dir.join("no-rows.hdf5");
    let steps = Steps {
        observations: vec![],
        actions: vec![],
        rewards: vec![],
        terminals: vec![],
        timeouts: vec![],
        next_observations: vec![],
        ..Steps::tiny()
    };
    write_d4rl(&no_rows, &steps, D4rlLayout::V2);
    add(no_rows, &["empty dataset", "0 rows"]);

    for key in ["observations", "actions", "rewards", "terminals"] {
        let path = d4rl_file_with(dir, &format!("missing-{key}.hdf5"), |file| file.unlink(key).unwrap());
        let expected: &'static [&'static str] = match key {
            "observations" => &["missing dataset 'observations'"],
            "actions" => &["missing dataset 'actions'"],
            "rewards" => &["missing dataset 'rewards'"],
            _ => &["missing dataset 'terminals'"],
        };
        add(path, expected);
    }

    add(
        d4rl_with(dir, "short-actions.hdf5", |s| s.actions.truncate(6)),
        &["length mismatch", "'actions' has 6 rows", "'observations' has 7"],
    );
    add(
        d4rl_with(dir, "short-timeouts.hdf5", |s| s.timeouts.truncate(5)),
        &["length mismatch", "'timeouts' has 5 rows"],
    );
    add(
        d4rl_with(dir, "short-next.hdf5", |s| s.next_observations.truncate(12)),
        &["length mismatch", "'next_observations' has 6 rows"],
    );

    let flat_observations = d4rl_file_with(dir, "flat-observations.hdf5", |file| {
        file.unlink("observations").unwrap();
        write_array(file, "observations", &[0.0_f32; 7], &[7]);
    });
    add(flat_observations, &["'observations' should be a 2-D array", "[7]"]);
    let column_rewards = d4rl_file_with(dir, "column-rewards.hdf5", |file| {
        file.unlink("rewards").unwrap();
        write_array(file, "rewards", &[0.0_f32; 7], &[7, 1]);
    });
    add(column_rewards, &["'rewards' should be a 1-D array", "[7, 1]"]);
    let featureless_actions = d4rl_file_with(dir, "featureless-actions.hdf5", |file| {
        file.unlink("actions").unwrap();
        write_array(file, "actions", &[0.0_f32; 0], &[7, 0]);
    });
    add(featureless_actions, &["'actions' has no features", "[7, 0]"]);
    let grouped_actions = d4rl_file_with(dir, "grouped-actions.hdf5", |file| {
        file.unlink("actions").unwrap();
        file.create_group("actions").unwrap();
    });
    add(grouped_actions, &["'actions' is a group"]);
    let wide_next = d4rl_file_with(dir, "wide-next.hdf5", |file| {
        file.unlink("next_observations").unwrap();
        write_array(file, "next_observations", &[0.0_f32; 21], &[7, 3]);
    });
    add(wide_next, &["'next_observations' has 3 columns", "'observations' has 2"]);

    let integer_observations = d4rl_file_with(dir, "int-observations.hdf5", |file| {
        file.unlink("observations").unwrap();
        write_array(file, "observations", &[0_i32; 14], &[7, 2]);
    });
    add(integer_observations, &["'observations' should hold float32 or float64", "int32"]);
    let float_terminals = d4rl_file_with(dir, "float-terminals.hdf5", |file| {
        file.unlink("terminals").unwrap();
        write_array(file, "terminals", &[0.0_f32; 7], &[7]);
    });
    add(float_terminals, &["'terminals' should hold bool or uint8", "float32"]);

    add(
        d4rl_with(dir, "nan-observations.hdf5", |s| s.observations[7] = f32::NAN),
        &["'observations' has NaN at row 3"],
    );
    add(d4rl_with(dir, "inf-rewards.hdf5", |s| s.rewards[5] = f32::INFINITY), &["'rewards' has Inf at row 5"]);
    add(d4rl_with(dir, "inf-actions.hdf5", |s| s.actions[2] = f32::NEG_INFINITY), &["'actions' has Inf at row 2"]);
    add(
        d4rl_with(dir, "nan-next.hdf5", |s| s.next_observations[13] = f32::NAN),
        &["'next_observations' has NaN at row 6"],
    );
    let huge = d4rl_file_with(dir, "huge-float64.hdf5", |file| {
        file.unlink("rewards").unwrap();
        write_array(file, "rewards", &[0.0, 0.0, 1e300, 0.0, 0.0, 0.0, 0.0_f64], &[7]);
    });
    add(huge, &["'rewards'", "row 2", "too large for float32"]);

    let single_row = dir.join("single-row.hdf5");
    let steps = Steps {
        observations: vec![0.0, 0.0],
        actions: vec![0.0],
        rewards: vec![1.0],
        terminals: vec![false],
        timeouts: vec![false],
        next_observations: vec![0.0, 0.0],
        ..Steps::tiny()
    };
    write_d4rl(&single_row, &steps, D4rlLayout { next_observations: false, ..D4rlLayout::V2 });
    add(single_row, &["no transitions", "'next_observations'"]);

    add(
        minari_with(dir, "minari-missing-truncations.hdf5", |episode| episode.unlink("truncations").unwrap()),
        &["missing dataset 'episode_1/truncations'"],
    );
    add(
        minari_with(dir, "minari-short-observations.hdf5", |episode| {
            episode.unlink("observations").unwrap();
            write_array(episode, "observations", &[0.0_f32; 4], &[2, 2]);
        }),
        &["length mismatch", "'episode_1/observations' has 2 rows, expected 3"],
    );
    add(
        minari_with(dir, "minari-short-rewards.hdf5", |episode| {
            episode.unlink("rewards").unwrap();
            write_array(episode, "rewards", &[0.0_f64], &[1]);
        }),
        &["length mismatch", "'episode_1/rewards' has 1 rows"],
    );
    add(
        minari_with(dir, "minari-nan-rewards.hdf5", |episode| {
            episode.unlink("rewards").unwrap();
            write_array(episode, "rewards", &[0.0, f64::NAN], &[2]);
        }),
        &["'episode_1/rewards' has NaN at row 1"],
    );
    add(
        minari_with(dir, "minari-wide-actions.hdf5", |episode| {
            episode.unlink("actions").unwrap();
            write_array(episode, "actions", &[0.0_f32; 4], &[2, 2]);
        }),
        &["'episode_1' has 2 observation and 2 action columns", "earlier episodes have 2 and 1"],
    );
    add(
        minari_with(dir, "minari-empty-episode.hdf5", |episode| {
            for key in ["observations", "actions", "rewards", "terminations", "truncations"] {
                episode.unlink(key).unwrap();
            }
            write_array(episode, "observations", &[0.0_f32; 2], &[1, 2]);
            write_array(episode, "actions", &[0.0_f32; 0], &[0, 1]);
            write_array(episode, "rewards", &[0.0_f64; 0], &[0]);
            write_array(episode, "terminations", &[false; 0], &[0]);
            write_array(episode, "truncations", &[false; 0], &[0]);
        }),
        &["'episode_1' is empty"],
    );
    cases
}

/// Writes the tiny steps as Minari, then lets `edit` change the group `episode_1`.
fn minari_with(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::Group)) -> PathBuf {
    let path = dir.join(name);
    write_minari(&path, &Steps::tiny());
    let file = append_file(&path);
    edit(&file.group("episode_1").unwrap());
    path
}

#[test]
fn every_bad_input_is_one_error_line_naming_the_file_and_the_problem() {
    let dir = scratch_dir();
    for case in bad_inputs(dir.path()) {
        let message = match Dataset::load(&case.path) {
            Ok(_) => panic!("{} loaded, expected an error", case.path.display()),
            Err(err) => format!("{err:#}"),
        };
        assert_names_file(&message, &case.path);
        for expected in case.expected {
            assert!(message.contains(expected), "{message:?} should contain {expected:?}");
        }
    }
}

#[test]
fn the_cli_prints_the_error_on_one_line_and_exits_with_status_1() {
    let dir = scratch_dir();
    for case in bad_inputs(dir.path()) {
        let path = case.path.to_str().unwrap();
        let output = qipo(&["dataset", "inspect", path, "--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(output.stdout.is_empty(), "{path}: nothing on stdout");
        let prefix = format!("error: {path}: ");
        assert!(stderr.starts_with(&prefix) && stderr.lines().count() == 1, "{stderr:?}");
        assert!(stderr.contains(case.expected[0]), "{stderr:?}");
    }
}
