//! Offline-RL datasets: D4RL (v2 layout) and Minari HDF5 files, read into flat `f32` arrays of
//! transitions, validated and summarised.
//!
//! ```no_run
//! let dataset = qipo::data::Dataset::load("data/hopper-medium-replay-v2.hdf5")?;
//! println!("{} transitions", dataset.len());
//! # anyhow::Ok(())
//! ```
//!
//! Module map: [`dataset`] (the in-memory struct), `load` (opening a file, layout and
//! environment detection), `d4rl` and `minari` (the two layouts), `arrays` (typed HDF5 reads),
//! `checks` (value checks), [`env`] (environments and D4RL reference returns), [`stats`]
//! (the summary `qipo dataset inspect` prints), [`cli`].

mod arrays;
mod checks;
pub mod cli;
mod d4rl;
pub mod dataset;
pub mod env;
mod load;
mod minari;
pub mod stats;

pub use checks::ACTION_BOUND_TOLERANCE;
pub use dataset::{Dataset, Episode, EpisodeEnd, Format};
pub use env::{Env, ReferenceReturns};
pub use stats::Summary;
