//! QIPO, Q-weighted iterative policy optimisation (ALGORITHM.md section 4): configuration and
//! presets, the critic, the support actions, policy improvement, and the training run.

pub mod config;
pub mod critic;
pub mod diagnostics;
pub mod evaluation;
pub mod improve;
pub mod presets;
pub mod saved_policy;
pub mod snapshot;
pub mod support;
pub mod train;
