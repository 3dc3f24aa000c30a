//! Evaluating a velocity network as a policy in its environment: what `qipo eval` and the
//! periodic and final evaluations of `qipo train` share.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::config::TrainConfig;
use crate::data::ObservationNormalization;
use crate::envs::{self, EnvSpec, VecEnv};
use crate::eval::{evaluate, EvalReport, FlowPolicy, Scoring};
use crate::flow::VelocityNet;
use crate::gpu::Gpu;
use crate::report::{Report, Task, Unit};

/// The file a finished run's final evaluation is written to.
pub const EVAL_FILE: &str = "eval.json";

/// The environment a dataset's file name names (`hopper-medium-v2.hdf5`,
/// `antmaze-large-diverse-v2.hdf5`, `mujoco/walker2d/medium-v0/...`), if any.
pub fn env_of_dataset(path: &Path) -> Option<EnvSpec> {
    // The file name first, then the folders from the nearest up, as `Env::find_in_path`.
    path.components().rev().find_map(|c| c.as_os_str().to_string_lossy().parse().ok())
}

/// The environment a dataset's metadata names (Minari's `eval_env_spec`), else the one its
/// file name or its Minari id names.
pub fn env_of(dataset: &crate::data::Dataset) -> Option<EnvSpec> {
    let named = dataset.eval_env.as_deref().and_then(|id| id.parse().ok());
    named
        .or_else(|| env_of_dataset(&dataset.source))
        .or_else(|| dataset.id.as_deref().and_then(|id| env_of_dataset(Path::new(id))))
}

/// The environment a run evaluates in (`run.eval_env`), or an error naming `dataset` when
/// periodic evaluation is asked for without one.
pub fn run_eval_env(config: &TrainConfig, dataset: &Path) -> Result<Option<EnvSpec>> {
    let spec = config.run.eval_env.spec();
    if config.run.eval_every > 0 && spec.is_none() {
        anyhow::bail!(
            "run.eval_every is {} but {} does not name its environment: set run.eval_env",
            config.run.eval_every,
            dataset.display()
        );
    }
    Ok(spec)
}

/// Checks that the run's evaluation environment, if any, takes the dataset's states and
/// actions: a mismatch is found before the first step, not after the whole run.
pub fn check_eval_env_dims(spec: Option<EnvSpec>, dataset: &crate::data::Dataset) -> Result<()> {
    let Some(spec) = spec else { return Ok(()) };
    let (obs, act) = spec.dims();
    anyhow::ensure!(
        (obs, act) == (dataset.obs_dim, dataset.act_dim),
        "{}: {}-d observations and {}-d actions, but run.eval_env {spec} has {obs}-d observations and {act}-d actions",
        dataset.source.display(),
        dataset.obs_dim,
        dataset.act_dim
    );
    Ok(())
}

/// The progress of an evaluation in `spec`, over its episodes' steps.
pub fn eval_task(spec: EnvSpec, max_steps: usize) -> Task {
    Task { label: format!("eval {spec}"), total: max_steps as u64, done: 0, unit: Unit::EpisodeSteps }
}

/// Evaluations of one policy network in one environment, repeated as training goes: the
/// environments are created once, and every evaluation starts the same episodes.
pub struct Evaluator {
    pub spec: EnvSpec,
    scoring: Scoring,
    env: Box<dyn VecEnv>,
    euler_steps: usize,
    normalization: Option<ObservationNormalization>,
    seed: u64,
}

impl Evaluator {
    /// `episodes` episodes per evaluation, one sampled action per state with `euler_steps`
    /// Euler steps, observations standardised with `normalization` first, returns scored by
    /// `scoring`.
    pub fn new(
        spec: EnvSpec,
        scoring: Scoring,
        episodes: usize,
        euler_steps: usize,
        normalization: Option<ObservationNormalization>,
        seed: u64,
    ) -> Result<Self> {
        let env = envs::make(spec, episodes)?;
        Ok(Self { spec, scoring, env, euler_steps, normalization, seed })
    }

    /// Runs the episodes with `net` choosing the actions, all episodes stepped together.
    /// Its progress goes to `report`.
    pub fn run(&mut self, gpu: &Gpu, net: &VelocityNet, name: &str, report: &dyn Report) -> Result<EvalReport> {
        self.run_with_seed(gpu, net, name, report, self.seed)
    }

    /// [`Self::run`] with the episodes and the policy's noise drawn from `seed` (each seed of
    /// a multi-seed run evaluates as a run of that seed alone would).
    pub fn run_with_seed(
        &mut self,
        gpu: &Gpu,
        net: &VelocityNet,
        name: &str,
        report: &dyn Report,
        seed: u64,
    ) -> Result<EvalReport> {
        let (spec, env) = (self.spec, &mut self.env);
        anyhow::ensure!(
            env.obs_dim() == net.spec.cond_dim && env.act_dim() == net.spec.dim,
            "{spec} has {}-d observations and {}-d actions; the policy takes {}-d states and makes {}-d actions",
            env.obs_dim(),
            env.act_dim(),
            net.spec.cond_dim,
            net.spec.dim
        );
        let normalization = self.normalization.clone();
        let mut policy = FlowPolicy::new(gpu, net, env.len(), self.euler_steps, normalization, seed, name)?;
        let bar = report.progress(eval_task(spec, env.max_steps()));
        let result = evaluate(env.as_mut(), &mut policy, self.scoring, seed, bar.as_ref())
            .with_context(|| format!("evaluating in {spec}"))?;
        bar.finish();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Env;
    use crate::envs::GymVersion;

    #[test]
    fn d4rl_v2_files_evaluate_in_the_v4_models() {
        let walker = |version| Some(EnvSpec::Locomotion { env: Env::Walker2d, version });
        assert_eq!(env_of_dataset(Path::new("/data/walker2d-medium-v2.hdf5")), walker(GymVersion::V4));
        assert_eq!(env_of_dataset(Path::new("runs/walker2d-medium-v2/data.hdf5")), walker(GymVersion::V4));
        // Minari's MuJoCo datasets are v5.
        let minari = Path::new("mujoco/walker2d/medium-v0/data/main_data.hdf5");
        assert_eq!(env_of_dataset(minari), walker(GymVersion::V5));
    }
}
