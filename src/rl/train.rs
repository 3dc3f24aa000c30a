//! A whole QIPO run: behaviour pretraining, support actions, the critic and policy
//! improvement, each a resumable stage writing metrics, checkpoints and plots into the run
//! directory (ALGORITHM.md section 4; ARCHITECTURE.md "Runs are reproducible and resumable").
//!
//! The GPU owns each stage's loop: `run.log_every` steps are recorded into one submit, and
//! only their losses and statistics are read back, into metrics.jsonl. Checkpoints are
//! written atomically every `run.checkpoint_every` steps (policy improvement: at every
//! renewal of the support sets, from which it resumes exactly). A non-finite loss stops the
//! run, naming the stage and step, and keeps the last good checkpoint.
//!
//! Several seeds of one task train together ([`train_seeds`]): every network holds a copy
//! per seed and each step runs all of them in the same dispatches. Each seed keeps a run
//! directory of its own, with exactly the metrics, checkpoints and evaluations a run of that
//! seed alone would write (up to floating-point rounding), so any of them can be evaluated,
//! or resumed, as a single run.
//!
//! A seed may also have several runs differing only in `policy.beta` and `policy.lr` (a grid,
//! as `qipo sweep` trains): behaviour, support actions and critic do not depend on them, so
//! they train once per seed and are saved into each of the seed's runs; policy improvement
//! then trains a copy per run, each exactly the run of that seed and those settings alone.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use super::behaviour::{Pretraining, BEHAVIOUR};
use super::config::{CopySettings, CriticKind, PolicyNetKind, TrainConfig};
use super::critic::{value_networks, CriticTraining, TwinCritic};
use super::driver::{Driver, SeedState, StageContext};
use super::evaluation::{check_eval_env_dims, run_eval_env, EVAL_FILE};
use super::improve::{Improvement, POLICY};
use super::metrics::{EvalMetrics, SupportSpeed};
use super::snapshot::load_velocity_seeds;
use super::support::{SupportLayout, SupportSampler};
use crate::data::{Dataset, GpuDataset, Normalization};
use crate::envs::EnvSpec;
use crate::eval::EvalReport;
use crate::flow::{Architecture, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::nn::MlpSpec;
use crate::random::{offset_seed, streams, RngStream};
use crate::report::Report;
use crate::run::checkpoint::RunState;
use crate::run::metrics::{read_metrics, MetricsWriter};
use crate::run::{RunDir, Stage};

/// The file holding the reward and observation normalisation evaluation must apply.
pub const NORMALIZATION_FILE: &str = "normalization.json";

/// Each stage draws from its own seed so no two stages share random numbers. The offset is
/// added, so seed + c of a stage is the stage seed of run seed + c: copy c of a multi-seed
/// run draws (on the GPU, by advancing the seed) what a run of seed + c draws.
fn stage_seed(seed: u64, stage: Stage) -> u64 {
    offset_seed(seed, stage as u64 + 1)
}

/// What a finished (or already finished) run reports.
#[derive(Debug, Clone, Default)]
pub struct TrainSummary {
    /// Mean min(Q1, Q2) over every dataset state of the dataset's actions, of actions
    /// sampled from the behaviour policy (policy improvement's first renewal, before any
    /// step) and of actions sampled from the final policy.
    pub q_dataset: Option<f64>,
    pub q_behaviour: Option<f64>,
    pub q_policy: Option<f64>,
    /// The final policy's evaluation in the environment, when there was one.
    pub eval: Option<EvalReport>,
    pub already_finished: bool,
    /// The invocation stopped at its step budget; resume the run to continue.
    pub stopped: bool,
}

/// Trains (or resumes) the run in `run` on `dataset` (as loaded, before normalisation,
/// which the run's config decides), checking them first ([`check_inputs`]). With
/// `stop_after`, the invocation stops resumably once it has taken that many optimisation
/// steps, at the end of the logging interval under way (in policy improvement: at the next
/// renewal), so a resumed run logs and computes exactly what an uninterrupted one does.
pub fn train(
    gpu: &Gpu,
    dataset: Dataset,
    run: &RunDir,
    config: &TrainConfig,
    stop_after: Option<u64>,
    report: &dyn Report,
) -> Result<TrainSummary> {
    check_inputs(gpu, config, &dataset, 1)?;
    let seed = SeedRun { run, config };
    Ok(train_seeds(gpu, dataset, &[seed], stop_after, report)?.remove(0))
}

/// One seed of a run: its directory and its settings.
#[derive(Clone, Copy)]
pub struct SeedRun<'a> {
    pub run: &'a RunDir,
    pub config: &'a TrainConfig,
}

/// Trains (or resumes) several seeds of one task together, seed c's run in `seeds[c]`. Their
/// settings must be the same but for the seed, and the seeds consecutive, and have passed
/// [`check_inputs`] with `dataset`; [`train`] is the case of one seed. With a grid of β,
/// `seeds` holds each seed's runs in turn, one per β, every seed with the same values in the
/// same order (see [`check_seeds`]). Returns each run's summary.
pub fn train_seeds(
    gpu: &Gpu,
    mut dataset: Dataset,
    seeds: &[SeedRun],
    stop_after: Option<u64>,
    report: &dyn Report,
) -> Result<Vec<TrainSummary>> {
    let (config, runs_per_seed) = check_seeds(seeds)?;
    for seed in seeds {
        seed.run.remove_temporaries()?;
    }
    let mut states = seeds.iter().map(|s| s.run.resume_state(s.config)).collect::<Result<Vec<_>>>()?;
    // A stage under way at step 0 is where a finished previous stage resumes too.
    let progress = |s: &RunState| (s.completed.clone(), s.current.filter(|p| p.step > 0), s.finished);
    if states.len() > 1 {
        // A kill between two seeds' checkpoints leaves some a save ahead: they go back to
        // where the others are, from the checkpoint each kept of that point.
        let behind = states.iter().min_by_key(|s| s.position()).expect("at least one seed").clone();
        for (seed, state) in seeds.iter().zip(states.iter_mut()) {
            if progress(state) != progress(&behind) {
                *state = seed.run.roll_back_to(state, &behind)?;
            }
        }
    }
    if let Some((c, _)) = states.iter().enumerate().find(|(_, s)| progress(s) != progress(&states[0])) {
        bail!(
            "{} and {} have not come equally far: resume them one by one",
            seeds[0].run.path().display(),
            seeds[c].run.path().display()
        );
    }
    if states[0].finished {
        return Ok(seeds.iter().map(|_| TrainSummary { already_finished: true, ..Default::default() }).collect());
    }
    let normalization =
        Normalization::fit(&dataset, config.data.reward_normalization, config.data.normalize_observations)
            .with_context(|| format!("{}: cannot normalise", dataset.source.display()))?;
    normalization.apply(&mut dataset)?;
    let eval_env = run_eval_env(config, &dataset.source)?;
    for seed in seeds {
        let path = seed.run.path().join(NORMALIZATION_FILE);
        crate::run::write_atomic(&path, &serde_json::to_vec_pretty(&normalization)?)?;
    }
    let data = GpuDataset::upload(gpu, &dataset)?;
    let mut runs = Vec::new();
    for (seed, state) in seeds.iter().zip(&states) {
        let metrics = MetricsWriter::open_truncated(&seed.run.metrics_path(), state.metrics_records)?;
        runs.push(SeedState { run: seed.run, metrics, policy: seed.config.policy.copy_settings() });
    }
    let mut driver = Driver {
        budget: stop_after,
        gpu,
        config,
        seeds: runs,
        runs_per_seed,
        data: &data,
        eval_env,
        evaluator: None,
        normalization: &normalization,
        eval_seed: stage_seed(config.seed, Stage::Evaluation),
        report,
    };

    let stopped = || seeds.iter().map(|_| TrainSummary { stopped: true, ..Default::default() }).collect();
    let Some(behaviour) = driver.behaviour(&mut states)? else { return Ok(stopped()) };
    let next_support = driver.support(&mut states, &behaviour)?;
    let Some(critic) = driver.critic(&mut states, &next_support)? else { return Ok(stopped()) };
    let Some((mut summaries, policy)) = driver.policy(&mut states, &behaviour, &critic)? else {
        return Ok(stopped());
    };
    for (summary, eval) in summaries.iter_mut().zip(driver.final_evaluation(&policy)?) {
        summary.eval = eval;
    }
    for state in &mut states {
        state.finish();
    }
    driver.write_states(&mut states)?;
    driver.plot()?;
    Ok(summaries)
}

/// Checks what can be checked before a run of `seeds` seeds on `dataset` writes or allocates
/// anything: that its networks fit the adapter's buffers and that its evaluation environment,
/// if any, takes the dataset's states and actions.
pub fn check_inputs(gpu: &Gpu, config: &TrainConfig, dataset: &Dataset, seeds: usize) -> Result<()> {
    check_network_sizes(gpu, config, dataset.obs_dim, dataset.act_dim, seeds)?;
    check_eval_env_dims(run_eval_env(config, &dataset.source)?, dataset)
}

/// Checks that every network of a run of `copies` seeds on data of `obs_dim`-d states and
/// `act_dim`-d actions fits the adapter's buffers, before anything is allocated: the
/// parameters are made on the host first, and an absurd width would abort the process
/// there rather than fail cleanly at the GPU buffer.
pub fn check_network_sizes(
    gpu: &Gpu,
    config: &TrainConfig,
    obs_dim: usize,
    act_dim: usize,
    copies: usize,
) -> Result<()> {
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    let policy = policy_spec(config, obs_dim, act_dim);
    let (critic, value) = critic_specs(config, obs_dim, act_dim);
    // (setting, its widths, parameters per network, copies in one buffer): the twin critic
    // keeps two heads per seed.
    let networks = [
        ("policy_net", &policy.hidden, policy.checked_param_count(), copies),
        ("critic_net", &critic.hidden, critic.checked_param_count(), 2 * copies),
        ("critic_net", &value.hidden, value.checked_param_count(), copies),
    ];
    for (setting, hidden, params, copies) in networks {
        let bytes = params.and_then(|n| n.checked_mul(copies)?.checked_mul(4));
        if bytes.is_none_or(|bytes| bytes as u64 > limit) {
            let size = bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes"));
            let of = if copies > 1 { format!(" ({copies} networks in one buffer)") } else { String::new() };
            bail!(
                "{setting}.hidden = {hidden:?} is too large: its parameters need {size}{of}, but the adapter binds at most {limit} bytes per buffer",
            );
        }
    }
    Ok(())
}

/// The settings shared by every run, and the runs of each seed. The runs' own settings must
/// differ only in the seed, which counts up from the first one, and in the per-copy policy
/// settings ([`CopySettings`]): each seed has the same number of consecutive runs, with the
/// same values of those in the same order.
fn check_seeds<'a>(seeds: &[SeedRun<'a>]) -> Result<(&'a TrainConfig, usize)> {
    let first = seeds.first().context("no seeds to train")?.config;
    let runs_per_seed = seeds.iter().take_while(|s| s.config.seed == first.seed).count();
    let bits = |c: CopySettings| (c.beta.to_bits(), c.lr.to_bits());
    for (r, seed) in seeds.iter().enumerate() {
        let expected = first.seed.wrapping_add((r / runs_per_seed) as u64);
        let own = seed.config.policy.copy_settings();
        let policy = seed.config.policy.with_copy_settings(first.policy.copy_settings());
        let same = TrainConfig { seed: first.seed, policy, ..seed.config.clone() } == *first;
        let as_first_seed = bits(seeds[r % runs_per_seed].config.policy.copy_settings()) == bits(own);
        if !same || seed.config.seed != expected || !as_first_seed {
            bail!(
                "{}: seeds trained together need the same settings and consecutive seeds ({expected} here), and the same values of policy.beta and policy.lr for every seed",
                seed.run.path().display()
            );
        }
    }
    if !seeds.len().is_multiple_of(runs_per_seed) {
        bail!("{} runs are not {runs_per_seed} runs for each seed", seeds.len());
    }
    Ok((first, runs_per_seed))
}

/// The policy network: a velocity field over actions, conditioned on the state.
fn policy_spec(config: &TrainConfig, obs_dim: usize, act_dim: usize) -> VelocitySpec {
    let net = &config.policy_net;
    VelocitySpec {
        dim: act_dim,
        cond_dim: obs_dim,
        time_features: net.time_features,
        time_scale: net.time_scale as f32,
        hidden: net.hidden.clone(),
        activation: net.activation,
        architecture: match net.kind {
            PolicyNetKind::Mlp => Architecture::Mlp,
            PolicyNetKind::Resnet => Architecture::Resnet { cond_width: net.cond_width, embed_width: net.embed_width },
        },
    }
}

/// One head of the critic, Q(a, s), and IQL's value network V(s).
fn critic_specs(config: &TrainConfig, obs_dim: usize, act_dim: usize) -> (MlpSpec, MlpSpec) {
    let net = &config.critic_net;
    (
        MlpSpec::new(act_dim + obs_dim, &net.hidden, 1, net.activation),
        MlpSpec::new(obs_dim, &net.hidden, 1, net.activation),
    )
}

/// The stages of ALGORITHM.md section 4, in order. Each returns `None` when the step budget
/// stopped it (the run resumes from there), and a stage done earlier is loaded.
impl<'a> Driver<'a> {
    /// Stage 1: conditional flow matching of the dataset's actions given its states.
    fn behaviour(&mut self, states: &mut [RunState]) -> Result<Option<VelocityNet>> {
        let stage = Stage::Behaviour;
        if states[0].is_completed(stage) {
            return load_velocity_seeds(&self.load(stage)?, self.gpu, BEHAVIOUR).map(Some);
        }
        let spec = policy_spec(self.config, self.data.obs_dim, self.data.act_dim);
        let (behaviour, ema) = (&self.config.behaviour, self.config.policy_net.ema);
        let mut mu = Pretraining::new(self.context(stage), &spec, behaviour, ema, self.copies())?;
        let done = self.drive(states, stage, &mut mu)?;
        Ok(done.then(|| mu.net.into_used()))
    }

    /// Stage 2: M behaviour actions for every next state, for the critic's targets (a table
    /// per seed). It is a pure function of the behaviour policy and the seed, so it is
    /// recomputed on resume.
    fn support(&mut self, states: &mut [RunState], behaviour: &VelocityNet) -> Result<GpuBuffer> {
        let (gpu, m, copies) = (self.gpu, self.config.support.actions, self.copies());
        let stage = Stage::Support;
        let table = self.data.len * m * self.data.act_dim;
        let next_support = GpuBuffer::zeros(gpu, "next-state support actions", copies * table)?;
        if self.config.critic.kind == CriticKind::Iql {
            // IQL bootstraps from V(s'), not from support actions.
            self.complete(states, stage)?;
            return Ok(next_support);
        }
        let started = Instant::now();
        let (next_states, layout, euler) =
            (&self.data.next_observations, SupportLayout::alone(m), self.config.support.euler_steps);
        let sampler = SupportSampler::new(gpu, behaviour, next_states, self.data.len, &next_support, layout, euler)?;
        let mut rng = RngStream::new(stage_seed(self.config.seed, stage), streams::SUPPORT);
        let mut rec = Recorder::new(gpu);
        sampler.record_all(&mut rec, behaviour, &mut rng);
        rec.submit_and_wait()?;
        if !states[0].is_completed(stage) {
            // A resumed run recomputes the support actions but logs them once.
            let actions = (copies * self.data.len * m) as f64;
            let speed = SupportSpeed { actions_per_s: actions / started.elapsed().as_secs_f64() };
            self.record(stage, 0, &vec![speed; copies])?;
        }
        self.complete(states, stage)?;
        Ok(next_support)
    }

    /// Stage 3: the twin critic, by softmax Q-learning over the support actions of the next
    /// states (or by IQL).
    fn critic(&mut self, states: &mut [RunState], next_support: &GpuBuffer) -> Result<Option<TwinCritic>> {
        let (gpu, cfg, copies) = (self.gpu, &self.config.critic, self.copies());
        let stage = Stage::Critic;
        let seed = stage_seed(self.config.seed, stage);
        let (q_spec, v_spec) = critic_specs(self.config, self.data.obs_dim, self.data.act_dim);
        let critic = TwinCritic::for_seeds(gpu, &q_spec, seed, copies)?;
        if states[0].is_completed(stage) {
            critic.load(gpu, &self.load(stage)?)?;
            return Ok(Some(critic));
        }
        let value = match cfg.kind {
            CriticKind::Iql => Some(value_networks(gpu, &v_spec, seed, copies)?),
            CriticKind::Softmax => None,
        };
        let m = self.config.support.actions;
        let mut training = CriticTraining::new(self.context(stage), next_support, m, critic, value, cfg)?;
        let done = self.drive(states, stage, &mut training)?;
        Ok(done.then_some(training.critic))
    }

    /// Stage 4: Q-weighted iterative policy improvement, starting from the behaviour policy,
    /// the critic fixed. Each seed's summary comes with the final policy.
    fn policy(
        &mut self,
        states: &mut [RunState],
        behaviour: &VelocityNet,
        critic: &TwinCritic,
    ) -> Result<Option<(Vec<TrainSummary>, VelocityNet)>> {
        let (gpu, cfg) = (self.gpu, &self.config.policy);
        let stage = Stage::Policy;
        if states[0].is_completed(stage) {
            // Stopped during the final evaluation: the final policy is saved, and the
            // statistics of its last renewal are in the metrics.
            let policy = load_velocity_seeds(&self.load(stage)?, gpu, POLICY)?;
            let summaries = self.seeds.iter().map(|seed| logged_summary(seed.run, cfg.steps)).collect::<Result<_>>()?;
            return Ok(Some((summaries, policy)));
        }
        let resumed = states[0].resume_step(stage) > 0;
        let (support, ema) = (&self.config.support, self.config.policy_net.ema);
        // A grid improves each seed's behaviour policy once per cell, against its critic.
        let (repeated_behaviour, repeated_critic);
        let (behaviour, critic) = match self.runs_per_seed {
            1 => (behaviour, critic),
            times => {
                repeated_behaviour = behaviour.repeat_copies(gpu, times)?;
                repeated_critic = critic.repeat_seeds(gpu, times)?;
                (&repeated_behaviour, &repeated_critic)
            }
        };
        let copies: Vec<CopySettings> = self.seeds.iter().map(|seed| seed.policy).collect();
        let mut improvement = Improvement::new(self.context(stage), behaviour, critic, cfg, &copies, support, ema)?;
        if !self.drive(states, stage, &mut improvement)? {
            return Ok(None);
        }
        // The behaviour policy's mean Q is that of the first renewal's samples, made before
        // any step: in an earlier invocation if this one resumed.
        let behaviour_q: Vec<Option<f64>> = match (resumed, &improvement.first_renewal) {
            (false, Some(first)) => first.iter().map(|w| Some(w.q_policy_mean)).collect(),
            _ => self
                .seeds
                .iter()
                .map(|seed| Ok(logged_renewal(seed.run, 0)?.and_then(|r| r.q_policy_mean)))
                .collect::<Result<_>>()?,
        };
        let last = improvement.last_renewal.context("policy improvement ends with a renewal")?;
        let summaries = last
            .iter()
            .zip(behaviour_q)
            .map(|(last, q_behaviour)| TrainSummary {
                q_dataset: Some(last.q_data_mean),
                q_behaviour,
                q_policy: Some(last.q_policy_mean),
                ..Default::default()
            })
            .collect();
        Ok(Some((summaries, improvement.policy.into_used())))
    }

    /// Stage 5: each seed's final policy's evaluation, written to its eval.json and metrics.
    /// Skipped, with a note, when the run's environment is unknown or this build has no
    /// MuJoCo.
    fn final_evaluation(&mut self, policy: &VelocityNet) -> Result<Vec<Option<EvalReport>>> {
        let none = vec![None; self.seeds.len()];
        let Some(spec) = self.eval_env else {
            self.report
                .message("no final evaluation: the dataset's name does not say its environment (set run.eval_env)");
            return Ok(none);
        };
        if matches!(spec, EnvSpec::Locomotion { .. }) && !cfg!(feature = "mujoco") {
            self.report.message("no final evaluation: this qipo was built without MuJoCo");
            return Ok(none);
        }
        let seeds = match (self.copies(), self.runs_per_seed) {
            (1, 1) => String::new(),
            (n, 1) => format!(" for each of {n} seeds"),
            (n, b) => format!(" for each of {n} seeds × {b} values of β"),
        };
        let episodes = self.config.run.eval_episodes;
        self.report.message(&format!("evaluating the final policy: {episodes} episodes of {spec}{seeds}"));
        let dir = self.seeds[0].run.path().display().to_string();
        let reports = self
            .evaluate_seeds(policy, POLICY, false)
            .with_context(|| format!("the final evaluation failed; rerun it with `qipo eval --checkpoint {dir}`"))?;
        for (seed, report) in self.seeds.iter().zip(&reports) {
            crate::run::write_atomic(&seed.run.path().join(EVAL_FILE), &serde_json::to_vec_pretty(report)?)?;
        }
        // The same names as the periodic evaluations, so the plot shows them in one panel;
        // the standard errors and every episode are in eval.json.
        let fields: Vec<EvalMetrics> = reports.iter().map(EvalMetrics::of).collect();
        self.record(Stage::Evaluation, 0, &fields)?;
        self.plot()?;
        Ok(reports.into_iter().map(Some).collect())
    }

    /// Steps whose metrics the GPU keeps between two reads: a logging interval.
    /// What `stage` is built on; it keeps the statistics of a logging interval between reads.
    fn context(&self, stage: Stage) -> StageContext<'a> {
        let ring_len = self.config.run.log_every.max(1) as usize;
        StageContext { gpu: self.gpu, data: self.data, seed: stage_seed(self.config.seed, stage), ring_len }
    }
}

/// A renewal's record in the metrics, as far as the summary needs it.
#[derive(Deserialize)]
struct LoggedRenewal {
    q_data_mean: Option<f64>,
    q_policy_mean: Option<f64>,
}

/// The policy stage's renewal logged at `step` of `run`, if any (the last one of that step).
fn logged_renewal(run: &RunDir, step: u64) -> Result<Option<LoggedRenewal>> {
    let records = read_metrics(&run.metrics_path())?;
    Ok(records
        .into_iter()
        .rev()
        .filter(|r| r["stage"] == Stage::Policy.name() && r["step"] == step && r.get("q_policy_mean").is_some())
        .find_map(|r| serde_json::from_value(r).ok()))
}

/// The summary of a finished policy stage of `total` steps, from the metrics of its first
/// renewal and of its last (which measured the final policy).
fn logged_summary(run: &RunDir, total: u64) -> Result<TrainSummary> {
    let last = logged_renewal(run, total)?;
    Ok(TrainSummary {
        q_dataset: last.as_ref().and_then(|r| r.q_data_mean),
        q_behaviour: logged_renewal(run, 0)?.and_then(|r| r.q_policy_mean),
        q_policy: last.and_then(|r| r.q_policy_mean),
        ..Default::default()
    })
}
