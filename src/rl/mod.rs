//! QIPO, Q-weighted iterative policy optimisation (ALGORITHM.md section 4): configuration and
//! presets, behaviour pretraining, the critic, the support actions, policy improvement, the
//! driver that runs each stage and the metrics they record, and the training run.

pub mod behaviour;
pub mod config;
pub mod critic;
pub mod critic_stat;
pub mod diagnostics;
pub mod driver;
pub mod ema;
pub mod evaluation;
pub mod improve;
pub mod improve_rng;
pub mod metrics;
pub mod presets;
pub mod saved_policy;
pub mod snapshot;
pub mod support;
pub mod train;
