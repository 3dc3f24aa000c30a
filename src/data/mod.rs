//! Offline-RL datasets: D4RL (v2 layout) and Minari HDF5 files (by path, or a Minari dataset
//! by name from the local cache, with its metadata), read into flat `f32` arrays of
//! transitions, validated, summarised, and normalised for training.
//!
//! ```no_run
//! use qipo::data::{Dataset, Normalization, RewardMode};
//!
//! let mut dataset = Dataset::load("data/hopper-medium-replay-v2.hdf5")?;
//! let normalization = Normalization::fit(&dataset, RewardMode::Auto, true)?;
//! normalization.apply(&mut dataset)?;
//! # anyhow::Ok(())
//! ```
//!
//! Module map: [`dataset`] (the in-memory struct), `load` (opening a file, layout and
//! environment detection), `d4rl` and `minari` (the two layouts), `arrays` (typed HDF5 reads),
//! `checks` (value checks), [`env`] (environments and D4RL reference returns), `minari_cache`
//! (Minari ids, the cache and `metadata.json`), [`references`] (the returns scores are
//! normalised with, and where they come from), [`stats`] (the summary `qipo dataset inspect`
//! prints), [`normalize`].

pub(crate) mod arrays;
mod checks;
mod d4rl;
pub mod dataset;
pub mod env;
pub mod gpu;
mod load;
mod minari;
pub mod minari_cache;
pub mod normalize;
pub mod ogbench;
pub mod references;
pub mod stats;

pub use checks::ACTION_BOUND_TOLERANCE;
pub use dataset::{Dataset, Episode, EpisodeEnd, Format};
pub use env::{Env, ReferenceReturns};
pub use gpu::{GpuDataset, Minibatch, MinibatchSampler};
pub use normalize::{Normalization, ObservationNormalization, RewardMode, RewardNormalization, OBSERVATION_STD_FLOOR};
pub use references::References;
pub use stats::Summary;
