//! A whole QIPO run: behaviour pretraining, support actions, the critic and policy
//! improvement, each a resumable stage writing metrics, checkpoints and plots into the run
//! directory (ALGORITHM.md section 4; ARCHITECTURE.md "Runs are reproducible and resumable").
//!
//! The GPU owns each stage's loop: `run.log_every` steps are recorded into one submit, and
//! only their losses and statistics are read back, into metrics.jsonl. Checkpoints are
//! written atomically every `run.checkpoint_every` steps (policy improvement: at every
//! renewal of the support sets, from which it resumes exactly). A non-finite loss stops the
//! run, naming the stage and step, and keeps the last good checkpoint.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::config::{CriticKind, TrainConfig};
use super::critic::{CriticTrainer, TwinCritic, CRITIC_STATS, ONLINE_HEADS, TARGET_HEADS};
use super::evaluation::{run_eval_env, Evaluator, EVAL_FILE};
use super::improve::PolicyImprover;
use super::snapshot::{
    load_adam, load_adam_copies, load_mlp, load_mlp_copies, load_rng, load_velocity, save_adam, save_adam_copies,
    save_mlp, save_mlp_copies, save_rng, save_velocity,
};
use super::support::{SupportLayout, SupportSampler};
use crate::data::{Dataset, GpuDataset, Normalization};
use crate::envs::EnvSpec;
use crate::eval::EvalReport;
use crate::flow::efm::EfmTable;
use crate::flow::{EfmConfig, EfmTrainer, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::AdamConfig;
use crate::kernels::rng::{streams, RngStream};
use crate::nn::{Mlp, MlpSpec};
use crate::run::checkpoint::{Checkpoint, RunState};
use crate::run::metrics::MetricsWriter;
use crate::run::plot::plot_learning_curves;
use crate::run::{RunDir, Stage};

/// The file holding the reward and observation normalisation evaluation must apply.
pub const NORMALIZATION_FILE: &str = "normalization.json";

/// Each stage draws from its own seed so no two stages share random numbers.
fn stage_seed(seed: u64, stage: Stage) -> u64 {
    seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(stage as u64 + 1))
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
/// which the run's config decides). With `stop_after`, the invocation
/// stops resumably once it has taken that many optimisation steps, at the end of the
/// logging interval under way (in policy improvement: at the next renewal), so a resumed
/// run logs and computes exactly what an uninterrupted one does.
pub fn train(
    gpu: &Gpu,
    mut dataset: Dataset,
    run: &RunDir,
    config: &TrainConfig,
    stop_after: Option<u64>,
) -> Result<TrainSummary> {
    let mut state = run.read_state()?;
    if state.finished {
        return Ok(TrainSummary { already_finished: true, ..Default::default() });
    }
    let normalization =
        Normalization::fit(&dataset, config.data.reward_normalization, config.data.normalize_observations)
            .with_context(|| format!("{}: cannot normalise", dataset.source.display()))?;
    normalization.apply(&mut dataset)?;
    let eval_env = run_eval_env(config, &dataset.source)?;
    crate::run::write_atomic(&run.path().join(NORMALIZATION_FILE), &serde_json::to_vec_pretty(&normalization)?)?;
    let data = GpuDataset::upload(gpu, &dataset)?;
    let mut ctx = Context {
        budget: stop_after,
        gpu,
        run,
        config,
        metrics: MetricsWriter::open_truncated(&run.metrics_path(), state.metrics_records)?,
        data: &data,
        eval_env,
        evaluator: None,
        normalization: &normalization,
    };

    let policy_spec = VelocitySpec {
        dim: data.act_dim,
        cond_dim: data.obs_dim,
        time_features: config.policy_net.time_features,
        time_scale: config.policy_net.time_scale as f32,
        hidden: config.policy_net.hidden.clone(),
        activation: config.policy_net.activation,
    };
    let stopped = || TrainSummary { stopped: true, ..Default::default() };
    let Some(behaviour) = ctx.behaviour(&mut state, &policy_spec)? else { return Ok(stopped()) };
    let next_support = ctx.support(&mut state, &behaviour)?;
    let Some(critic) = ctx.critic(&mut state, &next_support)? else { return Ok(stopped()) };
    let Some((mut summary, policy)) = ctx.policy(&mut state, &behaviour, &critic)? else { return Ok(stopped()) };
    summary.eval = ctx.final_evaluation(&policy)?;
    state.finish();
    ctx.write_state(&mut state)?;
    plot_learning_curves(&run.metrics_path(), &run.plot_path())?;
    Ok(summary)
}

struct Context<'a> {
    /// Optimisation steps this invocation may still take (None: no limit).
    budget: Option<u64>,
    gpu: &'a Gpu,
    run: &'a RunDir,
    config: &'a TrainConfig,
    metrics: MetricsWriter,
    data: &'a GpuDataset,
    /// Where policies are evaluated, if the run knows its environment.
    eval_env: Option<EnvSpec>,
    /// Created at the first evaluation and kept: each evaluation starts the same episodes.
    evaluator: Option<Evaluator>,
    normalization: &'a Normalization,
}

fn progress(stage: Stage, total: u64, start: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(stage.name());
    bar.set_position(start);
    bar
}

/// The end of the next chunk of steps: the next multiple of any of `every` after `step`,
/// or `total`.
fn next_stop(step: u64, total: u64, every: &[u64]) -> u64 {
    every.iter().filter(|&&e| e > 0).map(|&e| (step / e + 1) * e).fold(total, u64::min)
}

/// Records `steps` training steps into one submit and waits for them; returns steps/s.
fn run_chunk(gpu: &Gpu, steps: u64, mut record_step: impl FnMut(&mut Recorder)) -> Result<f64> {
    let started = Instant::now();
    let mut rec = Recorder::new(gpu);
    for _ in 0..steps {
        record_step(&mut rec);
    }
    rec.submit_and_wait()?;
    Ok(steps as f64 / started.elapsed().as_secs_f64())
}

/// The `n` records of `width` values written into a ring buffer from record number `first`
/// on (record k lives in slot k mod the ring's length), in order.
fn read_ring(gpu: &Gpu, ring: &GpuBuffer, first: u64, n: usize, width: usize) -> Result<Vec<f32>> {
    let slots = ring.len / width;
    let all: Vec<f32> = ring.read(gpu)?;
    Ok((0..n)
        .flat_map(|k| {
            let slot = ((first + k as u64) % slots as u64) as usize;
            all[slot * width..(slot + 1) * width].iter().copied()
        })
        .collect())
}

fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len().max(1) as f64
}

/// The metrics fields of an evaluation.
fn eval_fields(report: &EvalReport) -> BTreeMap<String, f64> {
    let mut fields = BTreeMap::from([
        ("eval_return".to_string(), report.return_mean),
        ("eval_score".to_string(), report.score_mean),
    ]);
    if let Some(rate) = report.success_rate {
        fields.insert("eval_success_rate".into(), rate);
    }
    fields
}

fn check_finite(stage: Stage, step: u64, name: &str, value: f64, run: &RunDir) -> Result<()> {
    if !value.is_finite() {
        bail!(
            "{stage} diverged by step {step}: {name} is {value}; the last good checkpoint is kept in {}",
            run.checkpoint_dir().display()
        );
    }
    Ok(())
}

impl Context<'_> {
    /// Spends `steps` of the budget; true when it is used up.
    fn spend(&mut self, steps: u64) -> bool {
        match &mut self.budget {
            Some(left) => {
                *left = left.saturating_sub(steps);
                *left == 0
            }
            None => false,
        }
    }

    fn record(&mut self, stage: Stage, step: u64, fields: BTreeMap<String, f64>) -> Result<()> {
        self.metrics.record(stage, step, &fields)
    }

    fn save(&self, ckpt: &Checkpoint, state: &mut RunState, stage: Stage, step: u64, done: bool) -> Result<()> {
        std::fs::create_dir_all(self.run.checkpoint_dir())?;
        ckpt.save_atomic(&self.run.checkpoint_path(stage))?;
        if done {
            state.complete(stage);
        } else {
            state.set_progress(stage, step);
        }
        self.write_state(state)
    }

    /// Saves the progress state with the number of metrics records it covers.
    fn write_state(&self, state: &mut RunState) -> Result<()> {
        state.metrics_records = self.metrics.records();
        self.run.write_state(state)
    }

    fn load(&self, stage: Stage) -> Result<Checkpoint> {
        let ckpt = Checkpoint::load(&self.run.checkpoint_path(stage))?;
        let (len, obs, act) = (ckpt.meta("dataset.len")?, ckpt.meta("dataset.obs_dim")?, ckpt.meta("dataset.act_dim")?);
        let here = (self.data.len.to_string(), self.data.obs_dim.to_string(), self.data.act_dim.to_string());
        if (len, obs, act) != (here.0.as_str(), here.1.as_str(), here.2.as_str()) {
            bail!(
                "{}: this run was trained on {len} transitions of {obs}-d observations and {act}-d actions, not on {}",
                self.run.path().display(),
                self.data.source.display()
            );
        }
        Ok(ckpt)
    }

    fn new_checkpoint(&self, step: u64) -> Checkpoint {
        let mut ckpt = Checkpoint::new();
        ckpt.set_meta("step", step.to_string());
        ckpt.set_meta("dataset.len", self.data.len.to_string());
        ckpt.set_meta("dataset.obs_dim", self.data.obs_dim.to_string());
        ckpt.set_meta("dataset.act_dim", self.data.act_dim.to_string());
        ckpt
    }

    /// Stage 1: conditional flow matching of the dataset's actions given its states.
    fn behaviour(&mut self, state: &mut RunState, spec: &VelocitySpec) -> Result<Option<VelocityNet>> {
        let (gpu, cfg) = (self.gpu, &self.config.behaviour);
        let stage = Stage::Behaviour;
        let seed = stage_seed(self.config.seed, stage);
        if state.is_completed(stage) {
            return load_velocity(&self.load(stage)?, gpu, "behaviour").map(Some);
        }
        let net = VelocityNet::new(gpu, spec, seed)?;
        let zeros = GpuBuffer::zeros(gpu, "zero energies", self.data.len)?;
        let table = EfmTable {
            len: self.data.len,
            points: &self.data.actions,
            energies: &zeros,
            cond: Some(&self.data.observations),
        };
        let adam = AdamConfig { lr: cfg.lr, max_grad_norm: cfg.max_grad_norm, ..Default::default() };
        let efm = EfmConfig { batch: cfg.batch, beta: 0.0, group: 0, adam };
        let log_every = self.config.run.log_every.max(1);
        let mut trainer = EfmTrainer::new(gpu, &net, table, efm, seed, log_every as usize)?;
        let mut step = state.resume_step(stage);
        if step > 0 {
            let ckpt = self.load(stage)?;
            load_mlp(&ckpt, gpu, "behaviour", &net.mlp)?;
            load_adam(&ckpt, gpu, "behaviour", &mut trainer.adam)?;
            for (name, rng) in ["minibatch", "noise", "time"].iter().zip(trainer.rng.iter_mut()) {
                load_rng(&ckpt, name, rng)?;
            }
        }
        let total = cfg.steps;
        let bar = progress(stage, total, step);
        while step < total {
            let stops = [log_every, self.config.run.checkpoint_every, self.config.run.eval_every];
            let stop = next_stop(step, total, &stops);
            let first_slot = trainer.steps();
            let rate = run_chunk(gpu, stop - step, |rec| trainer.record_step(rec, &net))?;
            let losses = read_ring(gpu, &trainer.losses, first_slot, (stop - step) as usize, 1)?;
            let loss = mean(&losses);
            check_finite(stage, stop, "the flow-matching loss", loss, self.run)?;
            let out_of_budget = self.spend(stop - step);
            step = stop;
            let mut fields = BTreeMap::from([("loss".into(), loss), ("steps_per_s".into(), rate)]);
            if self.eval_due(step, total) {
                bar.set_message("evaluating");
                fields.extend(self.evaluate(&net, "behaviour")?);
            }
            self.record(stage, step, fields)?;
            bar.set_position(step);
            bar.set_message(format!("loss {loss:.4}"));
            let checkpoint_due =
                step.is_multiple_of(self.config.run.checkpoint_every.max(1)) || step == total || out_of_budget;
            if checkpoint_due {
                let mut ckpt = self.new_checkpoint(step);
                save_velocity(&mut ckpt, gpu, "behaviour", &net)?;
                save_adam(&mut ckpt, gpu, "behaviour", &trainer.adam)?;
                for (name, rng) in ["minibatch", "noise", "time"].iter().zip(trainer.rng.iter()) {
                    save_rng(&mut ckpt, name, rng);
                }
                self.save(&ckpt, state, stage, step, step == total)?;
            }
            if out_of_budget && step < total {
                bar.abandon();
                return Ok(None);
            }
        }
        bar.finish();
        plot_learning_curves(&self.run.metrics_path(), &self.run.plot_path())?;
        Ok(Some(net))
    }

    /// Stage 2: M behaviour actions for every next state, for the critic's targets. It is
    /// a pure function of the behaviour policy and the seed, so it is recomputed on resume.
    fn support(&mut self, state: &mut RunState, behaviour: &VelocityNet) -> Result<GpuBuffer> {
        let (gpu, m) = (self.gpu, self.config.support.actions);
        let stage = Stage::Support;
        let next_support = GpuBuffer::zeros(gpu, "next-state support actions", self.data.len * m * self.data.act_dim)?;
        if self.config.critic.kind == CriticKind::Iql {
            // IQL bootstraps from V(s'), not from support actions.
            state.complete(stage);
            self.write_state(state)?;
            return Ok(next_support);
        }
        let started = Instant::now();
        let layout = SupportLayout { group: m, first: 0 };
        let sampler = SupportSampler::new(
            gpu,
            behaviour,
            &self.data.next_observations,
            self.data.len,
            &next_support,
            m,
            layout,
            self.config.support.euler_steps,
        )?;
        let mut rng = RngStream::new(stage_seed(self.config.seed, stage), streams::SUPPORT);
        let mut rec = Recorder::new(gpu);
        sampler.record_all(&mut rec, behaviour, &mut rng);
        rec.submit_and_wait()?;
        if !state.is_completed(stage) {
            // A resumed run recomputes the support actions but logs them once.
            let seconds = started.elapsed().as_secs_f64();
            let actions = (self.data.len * m) as f64;
            self.record(stage, 0, BTreeMap::from([("actions_per_s".into(), actions / seconds)]))?;
        }
        state.complete(stage);
        self.write_state(state)?;
        Ok(next_support)
    }

    /// Stage 3: the twin critic (softmax Q-learning over the support, or IQL).
    fn critic(&mut self, state: &mut RunState, next_support: &GpuBuffer) -> Result<Option<TwinCritic>> {
        let (gpu, cfg) = (self.gpu, &self.config.critic);
        let stage = Stage::Critic;
        let seed = stage_seed(self.config.seed, stage);
        let net = &self.config.critic_net;
        let (obs, act) = (self.data.obs_dim, self.data.act_dim);
        let spec = MlpSpec::new(act + obs, &net.hidden, 1, net.activation);
        let critic = TwinCritic::new(gpu, &spec, seed)?;
        let value_spec = MlpSpec::new(obs, &net.hidden, 1, net.activation);
        let value = match cfg.kind {
            CriticKind::Iql => Some(Mlp::new(gpu, &value_spec, seed.wrapping_add(2))?),
            CriticKind::Softmax => None,
        };
        let load_heads = |ckpt: &Checkpoint| -> Result<()> {
            load_mlp_copies(ckpt, gpu, &ONLINE_HEADS, &critic.online)?;
            load_mlp_copies(ckpt, gpu, &TARGET_HEADS, &critic.target)
        };
        let head_params = spec.param_count();
        if state.is_completed(stage) {
            load_heads(&self.load(stage)?)?;
            return Ok(Some(critic));
        }
        let log_every = self.config.run.log_every.max(1);
        let m = self.config.support.actions;
        let mut trainer =
            CriticTrainer::new(gpu, self.data, next_support, m, &critic, value, cfg, seed, log_every as usize)?;
        let mut step = state.resume_step(stage);
        if step > 0 {
            let ckpt = self.load(stage)?;
            load_heads(&ckpt)?;
            load_adam_copies(&ckpt, gpu, &ONLINE_HEADS, &mut trainer.adam, head_params)?;
            load_rng(&ckpt, "minibatch", &mut trainer.sampler.rng)?;
            if let Some((value, adam)) = trainer.value_parts() {
                load_mlp(&ckpt, gpu, "value", value)?;
                load_adam(&ckpt, gpu, "value", adam)?;
            }
        }
        let total = cfg.steps;
        let bar = progress(stage, total, step);
        let width = CRITIC_STATS.len();
        while step < total {
            let stop = next_stop(step, total, &[log_every, self.config.run.checkpoint_every]);
            let first_slot = trainer.steps();
            let rate = run_chunk(gpu, stop - step, |rec| trainer.record_step(rec, &critic))?;
            let n = (stop - step) as usize;
            let stats = read_ring(gpu, &trainer.stats, first_slot, n, width)?;
            let out_of_budget = self.spend(stop - step);
            step = stop;
            let mut fields = BTreeMap::from([("steps_per_s".to_string(), rate)]);
            for (k, name) in CRITIC_STATS.iter().enumerate() {
                if *name == "value_loss" && cfg.kind != CriticKind::Iql {
                    continue;
                }
                let column: Vec<f32> = stats.chunks(width).map(|row| row[k]).collect();
                let value = mean(&column);
                check_finite(stage, step, name, value, self.run)?;
                fields.insert(name.to_string(), value);
            }
            bar.set_position(step);
            bar.set_message(format!("q1 loss {:.4} Q {:.2}", fields["q1_loss"], fields["q_mean"]));
            self.record(stage, step, fields)?;
            if step.is_multiple_of(self.config.run.checkpoint_every.max(1)) || step == total || out_of_budget {
                let mut ckpt = self.new_checkpoint(step);
                save_mlp_copies(&mut ckpt, gpu, &ONLINE_HEADS, &critic.online)?;
                save_mlp_copies(&mut ckpt, gpu, &TARGET_HEADS, &critic.target)?;
                save_adam_copies(&mut ckpt, gpu, &ONLINE_HEADS, &trainer.adam, head_params)?;
                save_rng(&mut ckpt, "minibatch", &trainer.sampler.rng);
                if let Some((value, adam)) = trainer.value_parts() {
                    save_mlp(&mut ckpt, gpu, "value", value)?;
                    save_adam(&mut ckpt, gpu, "value", adam)?;
                }
                self.save(&ckpt, state, stage, step, step == total)?;
            }
            if out_of_budget && step < total {
                bar.abandon();
                return Ok(None);
            }
        }
        bar.finish();
        drop(trainer);
        plot_learning_curves(&self.run.metrics_path(), &self.run.plot_path())?;
        Ok(Some(critic))
    }

    /// Stage 4: Q-weighted iterative policy improvement, starting from the behaviour policy.
    fn policy(
        &mut self,
        state: &mut RunState,
        behaviour: &VelocityNet,
        critic: &TwinCritic,
    ) -> Result<Option<(TrainSummary, VelocityNet)>> {
        let (gpu, cfg) = (self.gpu, &self.config.policy);
        let stage = Stage::Policy;
        let seed = stage_seed(self.config.seed, stage);
        let policy = VelocityNet::from_parts(
            gpu,
            &behaviour.spec,
            &behaviour.mlp.params.read::<f32>(gpu)?,
            &behaviour.frequencies.read::<f32>(gpu)?,
        )?;
        let log_every = self.config.run.log_every.max(1);
        let (m, euler) = (self.config.support.actions, self.config.support.euler_steps);
        let mut improver =
            PolicyImprover::new(gpu, self.data, &policy, critic, cfg, m, euler, seed, log_every as usize)?;
        let mut step = state.resume_step(stage);
        if step > 0 {
            let ckpt = self.load(stage)?;
            load_mlp(&ckpt, gpu, "policy", &policy.mlp)?;
            load_adam(&ckpt, gpu, "policy", &mut improver.adam)?;
            let rng = &mut improver.rng;
            for (name, stream) in [
                ("minibatch", &mut rng.minibatch),
                ("noise", &mut rng.noise),
                ("time", &mut rng.time),
                ("support", &mut rng.support),
            ] {
                load_rng(&ckpt, name, stream)?;
            }
        }
        let total = cfg.steps;
        let renew = cfg.renew_every.max(1);
        let bar = progress(stage, total, step);
        loop {
            if step.is_multiple_of(renew) || step == total {
                if step < total && self.budget == Some(0) {
                    // Out of budget: save here, at a renewal, so the resumed run renews exactly.
                    self.save_policy(state, step, &policy, &improver, false)?;
                    bar.abandon();
                    return Ok(None);
                }
                if step < total {
                    // Checkpoint just before a renewal: a resumed run renews exactly as this one.
                    self.save_policy(state, step, &policy, &improver, false)?;
                }
                let mut rec = Recorder::new(gpu);
                improver.record_renewal(&mut rec, &policy, critic);
                rec.submit_and_wait()?;
                let fields = self.support_statistics(&improver, m)?;
                let q_policy = fields["q_policy_mean"];
                check_finite(stage, step, "the support Q values", q_policy, self.run)?;
                let q_data = fields["q_data_mean"];
                bar.set_message(format!("Q policy {q_policy:.3}"));
                self.record(stage, step, fields)?;
                if step == total {
                    // The last renewal measures the final policy; then the run is done.
                    self.save_policy(state, step, &policy, &improver, true)?;
                    bar.finish();
                    plot_learning_curves(&self.run.metrics_path(), &self.run.plot_path())?;
                    let summary = TrainSummary {
                        q_dataset: Some(q_data),
                        q_behaviour: self.behaviour_q()?,
                        q_policy: Some(q_policy),
                        ..Default::default()
                    };
                    return Ok(Some((summary, policy)));
                }
            }
            let stop = next_stop(step, total, &[log_every, renew, self.config.run.eval_every]);
            let first_slot = improver.steps();
            let rate = run_chunk(gpu, stop - step, |rec| improver.record_step(rec, &policy))?;
            let losses = read_ring(gpu, &improver.losses, first_slot, (stop - step) as usize, 1)?;
            let loss = mean(&losses);
            check_finite(stage, stop, "the weighted flow-matching loss", loss, self.run)?;
            // The budget stops the policy stage only at renewals, where it resumes exactly.
            self.spend(stop - step);
            step = stop;
            bar.set_position(step);
            let mut fields = BTreeMap::from([("loss".into(), loss), ("steps_per_s".into(), rate)]);
            // The final policy is evaluated once, by the final evaluation.
            if step < total && self.eval_due(step, total) {
                bar.set_message("evaluating");
                fields.extend(self.evaluate(&policy, "policy")?);
            }
            self.record(stage, step, fields)?;
        }
    }

    /// A periodic evaluation is due after `step` of a stage of `total` steps.
    fn eval_due(&self, step: u64, total: u64) -> bool {
        let every = self.config.run.eval_every;
        every > 0 && (step.is_multiple_of(every) || step == total)
    }

    /// Evaluates `net` in the run's environment; the metrics fields of the result.
    fn evaluate(&mut self, net: &VelocityNet, name: &str) -> Result<BTreeMap<String, f64>> {
        let gpu = self.gpu;
        let report = self.evaluator()?.run(gpu, net, name, true)?;
        Ok(eval_fields(&report))
    }

    fn evaluator(&mut self) -> Result<&mut Evaluator> {
        if self.evaluator.is_none() {
            let spec = self.eval_env.context("the run has no evaluation environment (run.eval_env)")?;
            let run = &self.config.run;
            let observations = self.normalization.observations.clone();
            let seed = stage_seed(self.config.seed, Stage::Evaluation);
            let evaluator =
                Evaluator::new(spec, run.eval_episodes, self.config.support.euler_steps, observations, seed)?;
            self.evaluator = Some(evaluator);
        }
        Ok(self.evaluator.as_mut().expect("created above"))
    }

    /// The final policy's evaluation, written to eval.json and the metrics. Skipped, with a
    /// note, when the run's environment is unknown or this build has no MuJoCo.
    fn final_evaluation(&mut self, policy: &VelocityNet) -> Result<Option<EvalReport>> {
        let Some(spec) = self.eval_env else {
            eprintln!("no final evaluation: the dataset's name does not say its environment (set run.eval_env)");
            return Ok(None);
        };
        if matches!(spec, EnvSpec::Locomotion { .. }) && !cfg!(feature = "mujoco") {
            eprintln!("no final evaluation: this qipo was built without MuJoCo");
            return Ok(None);
        }
        eprintln!("evaluating the final policy: {} episodes of {spec}", self.config.run.eval_episodes);
        let (gpu, dir) = (self.gpu, self.run.path().display().to_string());
        let report = self
            .evaluator()?
            .run(gpu, policy, "policy", false)
            .with_context(|| format!("the final evaluation failed; rerun it with `qipo eval --checkpoint {dir}`"))?;
        crate::run::write_atomic(&self.run.path().join(EVAL_FILE), &serde_json::to_vec_pretty(&report)?)?;
        // The same names as the periodic evaluations, so the plot shows them in one panel;
        // the standard errors and every episode are in eval.json.
        let fields = eval_fields(&report);
        self.record(Stage::Evaluation, 0, fields)?;
        plot_learning_curves(&self.run.metrics_path(), &self.run.plot_path())?;
        Ok(Some(report))
    }

    fn save_policy(
        &self,
        state: &mut RunState,
        step: u64,
        policy: &VelocityNet,
        improver: &PolicyImprover,
        done: bool,
    ) -> Result<()> {
        let mut ckpt = self.new_checkpoint(step);
        save_velocity(&mut ckpt, self.gpu, "policy", policy)?;
        save_adam(&mut ckpt, self.gpu, "policy", &improver.adam)?;
        let rng = &improver.rng;
        for (name, stream) in
            [("minibatch", &rng.minibatch), ("noise", &rng.noise), ("time", &rng.time), ("support", &rng.support)]
        {
            save_rng(&mut ckpt, name, stream);
        }
        self.save(&ckpt, state, Stage::Policy, step, done)
    }

    /// The mean Q of the behaviour policy's samples: the first renewal of policy
    /// improvement, read back from the metrics so a resumed run reports it too.
    fn behaviour_q(&self) -> Result<Option<f64>> {
        let records = crate::run::metrics::read_metrics(&self.run.metrics_path())?;
        Ok(records
            .iter()
            .find(|r| r["stage"] == "policy" && r["step"] == 0 && r.get("q_policy_mean").is_some())
            .and_then(|r| r["q_policy_mean"].as_f64()))
    }

    /// Statistics of the support sets after a renewal: the mean Q of the dataset actions and
    /// of the policy's, and the entropy and effective sample size of the weights.
    fn support_statistics(&self, improver: &PolicyImprover, m: usize) -> Result<BTreeMap<String, f64>> {
        let q: Vec<f32> = improver.q_values.read(self.gpu)?;
        let w: Vec<f32> = improver.weights.read(self.gpu)?;
        let group = m + 1;
        let (mut q_data, mut q_policy, mut entropy, mut ess, mut w_data) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (qs, ws) in q.chunks(group).zip(w.chunks(group)) {
            q_data += qs[0] as f64;
            q_policy += qs[1..].iter().map(|&v| v as f64).sum::<f64>() / m as f64;
            entropy -= ws.iter().filter(|&&p| p > 0.0).map(|&p| p as f64 * (p as f64).ln()).sum::<f64>();
            ess += 1.0 / ws.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().max(f64::MIN_POSITIVE);
            w_data += ws[0] as f64;
        }
        let n = (q.len() / group).max(1) as f64;
        Ok(BTreeMap::from([
            ("q_data_mean".into(), q_data / n),
            ("q_policy_mean".into(), q_policy / n),
            ("weight_entropy".into(), entropy / n),
            ("weight_ess".into(), ess / n),
            ("weight_dataset_action".into(), w_data / n),
        ]))
    }
}
