//! Policy evaluation: episodes in an environment, all stepped together, with one batched
//! policy call per step, reported as returns and D4RL-normalised scores.

pub mod policy;
pub mod runner;

pub use policy::{FlowPolicy, Policy, RandomPolicy, ZeroPolicy};
pub use runner::{episode_seed, evaluate, EvalReport};
