//! Policy evaluation: episodes in an environment, all stepped together, with one batched
//! policy call per step, reported as returns and normalised scores (D4RL's, or the dataset's own references).

pub mod policy;
pub mod runner;
pub mod scoring;

pub use policy::{FlowPolicy, Policy, RandomPolicy, ZeroPolicy};
pub use runner::{episode_seed, evaluate, EvalReport};
pub use scoring::{ScoreMode, Scoring};
