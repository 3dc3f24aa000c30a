//! Helpers shared by the `data_*` tests: the shipped dataset, and writers for D4RL and Minari
//! files in every variant the loader has to read.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hdf5::types::VarLenUnicode;
use hdf5::{Group, H5Type};
use ndarray::ArrayViewD;

/// The small hopper dataset that ships in `data/`.
pub fn shipped_dataset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hopper-medium-replay-v2.hdf5")
}

pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("qipo-data-test-").tempdir().expect("create a temp dir")
}

/// Runs `qipo` with the given arguments.
pub fn qipo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qipo")).args(args).output().expect("run the qipo binary")
}

/// Creates an HDF5 file for writing, without HDF5's file lock.
///
/// Tests run in threads and some spawn `qipo`: a child inherits every open descriptor (HDF5
/// does not set close-on-exec), and with it the lock of a file another thread is writing, so
/// reopening that file would fail until the child exits. The loader's own shared read locks
/// never conflict with each other.
pub fn create_file(path: &Path) -> hdf5::File {
    hdf5::File::with_options().with_fapl(|fapl| fapl.file_locking(false)).create(path).expect("create an HDF5 file")
}

/// Opens an existing HDF5 file to change it, without the file lock (see [`create_file`]).
pub fn append_file(path: &Path) -> hdf5::File {
    hdf5::File::with_options().with_fapl(|fapl| fapl.file_locking(false)).append(path).expect("open an HDF5 file")
}

/// Writes [`Steps::tiny`] as a D4RL file named `file_name` (the name may carry an environment)
/// and loads it; the directory must outlive the dataset's use of its path.
pub fn load_tiny(file_name: &str) -> (tempfile::TempDir, qipo::data::Dataset) {
    let dir = scratch_dir();
    let path = dir.path().join(file_name);
    write_d4rl(&path, &Steps::tiny(), D4rlLayout::V2);
    let dataset = qipo::data::Dataset::load(&path).expect("load the tiny dataset");
    (dir, dataset)
}

/// Writes the first `rows` transitions of the shipped dataset to `path` as a D4RL file: a
/// real dataset small enough for end-to-end runs of a second or two on lavapipe.
pub fn write_shipped_head(path: &Path, rows: usize) {
    let all = Steps::read_d4rl(&shipped_dataset());
    let steps = Steps {
        observations: all.observations[..rows * all.obs_dim].to_vec(),
        next_observations: all.next_observations[..rows * all.obs_dim].to_vec(),
        actions: all.actions[..rows * all.act_dim].to_vec(),
        rewards: all.rewards[..rows].to_vec(),
        terminals: all.terminals[..rows].to_vec(),
        timeouts: all.timeouts[..rows].to_vec(),
        ..all
    };
    write_d4rl(path, &steps, D4rlLayout::V2);
}

/// Step-level arrays in the D4RL layout (flat, row-major).
#[derive(Clone, Debug)]
pub struct Steps {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub observations: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub terminals: Vec<bool>,
    pub timeouts: Vec<bool>,
    pub next_observations: Vec<f32>,
}

impl Steps {
    pub fn rows(&self) -> usize {
        self.rewards.len()
    }

    pub fn observation(&self, row: usize) -> &[f32] {
        &self.observations[row * self.obs_dim..(row + 1) * self.obs_dim]
    }

    pub fn next_observation(&self, row: usize) -> &[f32] {
        &self.next_observations[row * self.obs_dim..(row + 1) * self.obs_dim]
    }

    pub fn action(&self, row: usize) -> &[f32] {
        &self.actions[row * self.act_dim..(row + 1) * self.act_dim]
    }

    /// Seven steps, two features, one action: a timeout ends the first episode at row 2, a
    /// terminal the second at row 4, and rows 5-6 are an unfinished episode.
    pub fn tiny() -> Steps {
        let rows = 7;
        let observations: Vec<f32> = (0..rows * 2).map(|i| i as f32 * 0.5).collect();
        let next_observations: Vec<f32> = (0..rows * 2).map(|i| 100.0 + i as f32).collect();
        Steps {
            obs_dim: 2,
            act_dim: 1,
            observations,
            actions: vec![0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7],
            rewards: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            terminals: vec![false, false, false, false, true, false, false],
            timeouts: vec![false, false, true, false, false, false, false],
            next_observations,
        }
    }

    /// Reads a D4RL file that has every array, with h5py-independent code (the hdf5 crate).
    pub fn read_d4rl(path: &Path) -> Steps {
        let file = hdf5::File::open(path).expect("open the D4RL file");
        let observations = file.dataset("observations").unwrap();
        let actions = file.dataset("actions").unwrap();
        let flags = |name: &str| -> Vec<bool> {
            let bytes: Vec<u8> = file.dataset(name).unwrap().read_raw().unwrap();
            bytes.into_iter().map(|byte| byte != 0).collect()
        };
        Steps {
            obs_dim: observations.shape()[1],
            act_dim: actions.shape()[1],
            observations: observations.read_raw().unwrap(),
            actions: actions.read_raw().unwrap(),
            rewards: file.dataset("rewards").unwrap().read_raw().unwrap(),
            terminals: flags("terminals"),
            timeouts: flags("timeouts"),
            next_observations: file.dataset("next_observations").unwrap().read_raw().unwrap(),
        }
    }

    /// The row ranges of the episodes: each ends at a terminal or timeout, plus a trailing run.
    pub fn episode_rows(&self) -> Vec<std::ops::Range<usize>> {
        let mut episodes = Vec::new();
        let mut start = 0;
        for row in 0..self.rows() {
            if self.terminals[row] || self.timeouts[row] || row + 1 == self.rows() {
                episodes.push(start..row + 1);
                start = row + 1;
            }
        }
        episodes
    }
}

/// How to write a D4RL file.
#[derive(Clone, Copy, Debug)]
pub struct D4rlLayout {
    pub float64: bool,
    pub uint8_flags: bool,
    pub next_observations: bool,
    pub timeouts: bool,
}

impl D4rlLayout {
    /// The published D4RL v2 layout: float32 arrays, bool flags, next_observations present.
    pub const V2: D4rlLayout =
        D4rlLayout { float64: false, uint8_flags: false, next_observations: true, timeouts: true };
}

pub fn write_array<T: H5Type>(group: &Group, name: &str, values: &[T], shape: &[usize]) {
    let view = ArrayViewD::from_shape(shape, values).expect("shape matches the values");
    group.new_dataset_builder().with_data(view).create(name).expect("write an array");
}

pub fn write_floats(group: &Group, name: &str, values: &[f32], shape: &[usize], float64: bool) {
    if float64 {
        let wide: Vec<f64> = values.iter().map(|&value| f64::from(value)).collect();
        write_array(group, name, &wide, shape);
    } else {
        write_array(group, name, values, shape);
    }
}

pub fn write_flags(group: &Group, name: &str, flags: &[bool], uint8: bool) {
    if uint8 {
        let bytes: Vec<u8> = flags.iter().map(|&flag| u8::from(flag)).collect();
        write_array(group, name, &bytes, &[flags.len()]);
    } else {
        write_array(group, name, flags, &[flags.len()]);
    }
}

pub fn write_string_attribute(group: &Group, name: &str, value: &str) {
    let value: VarLenUnicode = value.parse().expect("a valid string");
    group.new_attr::<VarLenUnicode>().create(name).unwrap().write_scalar(&value).unwrap();
}

/// Writes the steps in the D4RL layout. Each array keeps its own length, so that tests can
/// write inconsistent files by shortening one of them.
pub fn write_d4rl(path: &Path, steps: &Steps, layout: D4rlLayout) {
    let file = create_file(path);
    let table = |values: &[f32], columns: usize| [values.len() / columns, columns];
    let (obs_dim, act_dim) = (steps.obs_dim, steps.act_dim);
    write_floats(&file, "observations", &steps.observations, &table(&steps.observations, obs_dim), layout.float64);
    write_floats(&file, "actions", &steps.actions, &table(&steps.actions, act_dim), layout.float64);
    write_floats(&file, "rewards", &steps.rewards, &[steps.rewards.len()], layout.float64);
    write_flags(&file, "terminals", &steps.terminals, layout.uint8_flags);
    if layout.timeouts {
        write_flags(&file, "timeouts", &steps.timeouts, layout.uint8_flags);
    }
    if layout.next_observations {
        let shape = table(&steps.next_observations, obs_dim);
        write_floats(&file, "next_observations", &steps.next_observations, &shape, layout.float64);
    }
    // Present in published files and ignored by the loader.
    let infos = file.create_group("infos").unwrap();
    write_array(&infos, "qpos", &steps.observations, &table(&steps.observations, obs_dim));
}

/// Writes the same steps as a Minari `main_data.hdf5`: one group per episode, whose
/// observations are the episode's states plus the next state of its last step.
pub fn write_minari(path: &Path, steps: &Steps) {
    let file = create_file(path);
    let dim = steps.obs_dim;
    for (id, rows) in steps.episode_rows().into_iter().enumerate() {
        let group = file.create_group(&format!("episode_{id}")).unwrap();
        let length = rows.len();
        let mut observations = steps.observations[rows.start * dim..rows.end * dim].to_vec();
        observations.extend_from_slice(steps.next_observation(rows.end - 1));
        write_array(&group, "observations", &observations, &[length + 1, dim]);
        let actions = &steps.actions[rows.start * steps.act_dim..rows.end * steps.act_dim];
        write_array(&group, "actions", actions, &[length, steps.act_dim]);
        // Minari stores rewards as float64.
        let rewards: Vec<f64> = steps.rewards[rows.clone()].iter().map(|&r| f64::from(r)).collect();
        write_array(&group, "rewards", &rewards, &[length]);
        write_array(&group, "terminations", &steps.terminals[rows.clone()], &[length]);
        write_array(&group, "truncations", &steps.timeouts[rows.clone()], &[length]);
    }
}

/// Asserts that an error message is one line naming the file, and returns it.
pub fn assert_names_file(message: &str, path: &Path) {
    assert!(!message.contains('\n'), "not one line: {message:?}");
    let prefix = format!("{}: ", path.display());
    assert!(message.starts_with(&prefix), "{message:?} does not start with {prefix:?}");
}
