//! Evaluation environments: MuJoCo locomotion in-process (feature `mujoco`), AntMaze through
//! a gymnasium-robotics subprocess and OGBench's single-task environments through an `ogbench`
//! one, all behind one batched interface so an evaluation steps all its episodes together.

pub mod antmaze;
#[cfg(feature = "mujoco")]
pub mod locomotion;
pub mod ogbench;
pub mod ogbench_task;
pub mod served;
pub mod spec;

use anyhow::Result;

pub use ogbench_task::{OgEnv, OgTask};
pub use spec::{EnvSpec, GymVersion, Maze};

/// What one step of one episode returns.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    pub observation: Vec<f64>,
    pub reward: f64,
    /// The episode ended in a terminal state (a fall, or the goal in AntMaze).
    pub terminated: bool,
    /// The episode hit the time limit.
    pub truncated: bool,
    /// AntMaze, OGBench: the goal was reached.
    pub success: bool,
}

/// `n` independent copies of an environment, stepped together.
pub trait VecEnv {
    fn spec(&self) -> EnvSpec;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn obs_dim(&self) -> usize;
    fn act_dim(&self) -> usize;
    /// Lower and upper bound of every action component.
    fn action_bounds(&self) -> (Vec<f64>, Vec<f64>);
    /// Steps after which an episode is truncated.
    fn max_steps(&self) -> usize;
    /// Starts a new episode in every copy, copy i seeded with `seeds[i]`; returns the
    /// observations, `len() × obs_dim()` values.
    fn reset(&mut self, seeds: &[u64]) -> Result<Vec<f64>>;
    /// Steps the copies `which` with `actions` (`which.len() × act_dim()` values, in order).
    fn step(&mut self, which: &[usize], actions: &[f64]) -> Result<Vec<StepOutcome>>;
}

/// The environments of `spec`, `n` copies.
pub fn make(spec: EnvSpec, n: usize) -> Result<Box<dyn VecEnv>> {
    match spec {
        EnvSpec::Locomotion { .. } => make_locomotion(spec, n),
        EnvSpec::AntMaze { maze } => Ok(Box::new(antmaze::spawn(maze, n)?)),
        EnvSpec::OgBench { task } => Ok(Box::new(ogbench::spawn(task, n)?)),
    }
}

#[cfg(feature = "mujoco")]
fn make_locomotion(spec: EnvSpec, n: usize) -> Result<Box<dyn VecEnv>> {
    Ok(Box::new(locomotion::LocomotionVec::new(spec, n)?))
}

#[cfg(not(feature = "mujoco"))]
fn make_locomotion(spec: EnvSpec, _n: usize) -> Result<Box<dyn VecEnv>> {
    anyhow::bail!("{spec}: this qipo was built without MuJoCo (the `mujoco` cargo feature)")
}
