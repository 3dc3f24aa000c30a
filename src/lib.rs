//! qipo: energy-weighted flow matching (QIPO) for offline reinforcement learning, with every
//! numeric step of training and sampling in hand-written WGSL compute kernels run through wgpu.
//!
//! Module map (one concern each):
//! - [`gpu`]: adapter choice, buffers, the pipeline cache, command recording, readback, timers.
//! - [`kernels`]: one small Rust wrapper per WGSL file in `shaders/`.
//! - [`reference`]: the plain CPU twin of every kernel, used by the tests.
//! - [`ops`], [`random`]: what the kernels compute and the counters of their random draws,
//!   with no GPU in them, shared by the kernels and their CPU twins; [`random`] also derives
//!   every stage, network and episode seed.
//! - [`nn`]: the MLP (flat parameters, forward/backward recording) and Adam.
//! - [`selftest`]: each kernel's comparison with its twin, one function per kernel: run small
//!   on the user's adapter by `qipo info`, and over sweeps of sizes by the kernel tests.
//! - [`bench`]: kernel benchmarks (`qipo bench`, `cargo bench`).
//! - [`flow`]: the velocity network, energy-weighted flow matching and the Euler sampler.
//! - [`toy`]: the 2-D energy-guided toy suite (`qipo toy`).
//! - [`data`]: D4RL / Minari HDF5 datasets: loading, validation, statistics, normalisation.
//! - [`csv_rows`]: CSV text as numbered rows, for the toy data and `qipo sample --states`.
//! - [`stats`]: means and standard errors over seeds and episodes.
//! - [`report`]: where the library's messages go (the library itself never prints).
//! - `python` (feature `python`): the Python package's bindings.

pub mod bench;
pub mod commands;
pub mod csv_rows;
pub mod data;
pub mod envs;
pub mod eval;
pub mod flow;
pub mod font;
pub mod gpu;
pub mod kernels;
pub mod nn;
pub mod ops;
#[cfg(feature = "python")]
pub mod python;
pub mod random;
pub mod reference;
pub mod report;
pub mod rl;
pub mod run;
pub mod selftest;
pub mod stats;
pub mod sweep;
pub mod toy;
