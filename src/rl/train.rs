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

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::config::{CriticKind, SupportSource, TrainConfig};
use super::critic::{
    network_seed, stat_index, stats_width, CriticTrainer, TwinCritic, CRITIC_STATS, ONLINE_HEADS, TARGET_HEADS,
};
use super::diagnostics::{critic_probe, support_drift};
use super::evaluation::{check_eval_env_dims, run_eval_env, Evaluator, EVAL_FILE};
use super::improve::PolicyImprover;
use super::snapshot::{
    load_adam_seeds, load_mlp_seeds, load_rng, load_velocity_seeds, save_adam_seeds, save_mlp_seeds, save_rng,
    save_velocity_seeds,
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
use crate::run::checkpoint::{Checkpoint, CheckpointIdentity, RunState};
use crate::run::metrics::MetricsWriter;
use crate::run::plot::plot_learning_curves;
use crate::run::{RunDir, Stage};

/// The file holding the reward and observation normalisation evaluation must apply.
pub const NORMALIZATION_FILE: &str = "normalization.json";

/// Each stage draws from its own seed so no two stages share random numbers. The offset is
/// added, so seed + c of a stage is the stage seed of run seed + c: copy c of a multi-seed
/// run draws (on the GPU, by advancing the seed) what a run of seed + c draws.
fn stage_seed(seed: u64, stage: Stage) -> u64 {
    seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(stage as u64 + 1))
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
    dataset: Dataset,
    run: &RunDir,
    config: &TrainConfig,
    stop_after: Option<u64>,
) -> Result<TrainSummary> {
    let seed = SeedRun { run, config };
    Ok(train_seeds(gpu, dataset, &[seed], stop_after)?.remove(0))
}

/// One seed of a run: its directory and its settings.
#[derive(Clone, Copy)]
pub struct SeedRun<'a> {
    pub run: &'a RunDir,
    pub config: &'a TrainConfig,
}

/// Trains (or resumes) several seeds of one task together, seed c's run in `seeds[c]`. Their
/// settings must be the same but for the seed, and the seeds consecutive; [`train`] is the
/// case of one seed. Returns each seed's summary.
pub fn train_seeds(
    gpu: &Gpu,
    mut dataset: Dataset,
    seeds: &[SeedRun],
    stop_after: Option<u64>,
) -> Result<Vec<TrainSummary>> {
    let config = check_seeds(seeds)?;
    check_network_sizes(gpu, config, dataset.obs_dim, dataset.act_dim, seeds.len())?;
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
                *state = seed.run.roll_back_to(seed.config, state, &behind)?;
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
    check_eval_env_dims(eval_env, &dataset)?;
    for seed in seeds {
        let path = seed.run.path().join(NORMALIZATION_FILE);
        crate::run::write_atomic(&path, &serde_json::to_vec_pretty(&normalization)?)?;
    }
    let data = GpuDataset::upload(gpu, &dataset)?;
    let mut runs = Vec::new();
    for (seed, state) in seeds.iter().zip(&states) {
        let metrics = MetricsWriter::open_truncated(&seed.run.metrics_path(), state.metrics_records)?;
        runs.push(SeedState { run: seed.run, metrics });
    }
    let mut ctx = Context {
        budget: stop_after,
        gpu,
        config,
        seeds: runs,
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
    let stopped = || seeds.iter().map(|_| TrainSummary { stopped: true, ..Default::default() }).collect();
    let Some(behaviour) = ctx.behaviour(&mut states, &policy_spec)? else { return Ok(stopped()) };
    let next_support = ctx.support(&mut states, &behaviour)?;
    let Some(critic) = ctx.critic(&mut states, &next_support)? else { return Ok(stopped()) };
    let Some((mut summaries, policy)) = ctx.policy(&mut states, &behaviour, &critic)? else { return Ok(stopped()) };
    for (summary, eval) in summaries.iter_mut().zip(ctx.final_evaluation(&policy)?) {
        summary.eval = eval;
    }
    for state in &mut states {
        state.finish();
    }
    ctx.write_states(&mut states)?;
    for seed in seeds {
        plot_learning_curves(&seed.run.metrics_path(), &seed.run.plot_path())?;
    }
    Ok(summaries)
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
    let policy = VelocitySpec {
        dim: act_dim,
        cond_dim: obs_dim,
        time_features: config.policy_net.time_features,
        time_scale: config.policy_net.time_scale as f32,
        hidden: config.policy_net.hidden.clone(),
        activation: config.policy_net.activation,
    };
    let critic_net = &config.critic_net;
    let critic = MlpSpec::new(act_dim + obs_dim, &critic_net.hidden, 1, critic_net.activation);
    let value = MlpSpec::new(obs_dim, &critic_net.hidden, 1, critic_net.activation);
    // (setting, network, copies in one buffer): the twin critic keeps two heads per seed.
    let networks =
        [("policy_net", policy.mlp(), copies), ("critic_net", critic, 2 * copies), ("critic_net", value, copies)];
    for (setting, spec, copies) in networks {
        let bytes = spec.checked_param_count().and_then(|n| n.checked_mul(copies)?.checked_mul(4));
        if bytes.is_none_or(|bytes| bytes as u64 > limit) {
            let size = bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes"));
            let of = if copies > 1 { format!(" ({copies} networks in one buffer)") } else { String::new() };
            bail!(
                "{setting}.hidden = {:?} is too large: its parameters need {size}{of}, but the adapter binds at most {limit} bytes per buffer",
                spec.hidden
            );
        }
    }
    Ok(())
}

/// The settings shared by every seed: the seeds' own must differ only in the seed, which
/// must count up from the first one.
fn check_seeds<'a>(seeds: &[SeedRun<'a>]) -> Result<&'a TrainConfig> {
    let first = seeds.first().context("no seeds to train")?.config;
    for (c, seed) in seeds.iter().enumerate() {
        let expected = first.seed.wrapping_add(c as u64);
        let same = TrainConfig { seed: first.seed, ..seed.config.clone() } == *first;
        if !same || seed.config.seed != expected {
            bail!(
                "{}: seeds trained together need the same settings and consecutive seeds ({expected} here)",
                seed.run.path().display()
            );
        }
    }
    Ok(first)
}

/// What each seed writes to as it trains.
struct SeedState<'a> {
    run: &'a RunDir,
    metrics: MetricsWriter,
}

struct Context<'a> {
    /// Optimisation steps this invocation may still take (None: no limit).
    budget: Option<u64>,
    gpu: &'a Gpu,
    /// The first seed's settings; the others differ only in the seed.
    config: &'a TrainConfig,
    seeds: Vec<SeedState<'a>>,
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

/// The mean over records of column `column` of records `width` values wide.
fn column_mean(records: &[f32], width: usize, column: usize) -> f64 {
    let values: Vec<f32> = records.chunks(width).map(|row| row[column]).collect();
    mean(&values)
}

/// The metrics fields of an evaluation.
fn eval_fields(report: &EvalReport) -> BTreeMap<String, f64> {
    let mut fields = BTreeMap::from([
        ("eval_return".to_string(), report.return_mean),
        ("eval_score".to_string(), report.score_mean),
        // The spread of the episodes: guidance that helps some episodes and wrecks others
        // shows here first. The plot draws them as a bar around eval_score.
        ("eval_score_min".to_string(), report.scores.iter().copied().fold(f64::INFINITY, f64::min)),
        ("eval_score_max".to_string(), report.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
    ]);
    if let Some(rate) = report.success_rate {
        fields.insert("eval_success_rate".into(), rate);
    }
    fields
}

fn check_finite(stage: Stage, step: u64, name: &str, value: f64, run: &RunDir) -> Result<()> {
    if !value.is_finite() {
        // Checkpoints are saved only after this check, so the stage's one on disk is good;
        // before its first, there is none to promise.
        let checkpoint = run.checkpoint_path(stage);
        let kept = match checkpoint.exists() {
            true => format!("the last good checkpoint is kept in {}", checkpoint.display()),
            false => format!("no checkpoint of the {stage} stage was saved before it"),
        };
        bail!("{stage} diverged by step {step}: {name} is {value}; {kept}");
    }
    Ok(())
}

/// Each seed's metrics fields of a chunk of steps: its mean loss over the chunk's `losses`
/// (one per seed and step) and the chunk's steps/s.
fn loss_fields(losses: &[f32], seeds: usize, rate: f64) -> Vec<BTreeMap<String, f64>> {
    (0..seeds)
        .map(|c| BTreeMap::from([("loss".into(), column_mean(losses, seeds, c)), ("steps_per_s".into(), rate)]))
        .collect()
}

/// The mean of every seed's values, for the progress bar.
fn mean_of(fields: &[BTreeMap<String, f64>], name: &str) -> f64 {
    fields.iter().map(|f| f[name]).sum::<f64>() / fields.len().max(1) as f64
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

    fn copies(&self) -> usize {
        self.seeds.len()
    }

    /// Writes each seed's fields (one map per seed) to its metrics.
    fn record(&mut self, stage: Stage, step: u64, fields: &[BTreeMap<String, f64>]) -> Result<()> {
        for (seed, fields) in self.seeds.iter_mut().zip(fields) {
            seed.metrics.record(stage, step, fields)?;
        }
        Ok(())
    }

    /// Fails on the first seed whose field `key` (described as `what`) is not finite.
    fn check_finite(
        &self,
        stage: Stage,
        step: u64,
        key: &str,
        what: &str,
        fields: &[BTreeMap<String, f64>],
    ) -> Result<()> {
        for (seed, fields) in self.seeds.iter().zip(fields) {
            check_finite(stage, step, what, fields[key], seed.run)?;
        }
        Ok(())
    }

    /// Saves each seed's checkpoint of `stage` at `step`, then its progress state. The
    /// checkpoint carries that state too: a kill between the two writes resumes from it.
    fn save(&self, ckpts: Vec<Checkpoint>, states: &mut [RunState], stage: Stage, step: u64, done: bool) -> Result<()> {
        for (c, ((seed, mut ckpt), state)) in self.seeds.iter().zip(ckpts).zip(states.iter_mut()).enumerate() {
            if done {
                state.complete(stage);
            } else {
                state.set_progress(stage, step);
            }
            state.metrics_records = seed.metrics.records();
            let seed_number = self.config.seed.wrapping_add(c as u64);
            ckpt.set_identity(&CheckpointIdentity { stage, step, seed: seed_number, state: state.clone() })?;
            std::fs::create_dir_all(seed.run.checkpoint_dir())?;
            if self.copies() > 1 {
                // The seeds' checkpoints are replaced one after the other: each keeps the one
                // it replaces, for a kill in between (see RunDir::roll_back_to).
                seed.run.keep_previous_checkpoint(stage)?;
            }
            ckpt.save_atomic(&seed.run.checkpoint_path(stage))?;
        }
        self.write_states(states)
    }

    /// Saves each seed's progress state with the number of metrics records it covers.
    fn write_states(&self, states: &mut [RunState]) -> Result<()> {
        for (seed, state) in self.seeds.iter().zip(states.iter_mut()) {
            state.metrics_records = seed.metrics.records();
            seed.run.write_state(state)?;
        }
        Ok(())
    }

    fn complete(&self, states: &mut [RunState], stage: Stage) -> Result<()> {
        for state in states.iter_mut() {
            state.complete(stage);
        }
        self.write_states(states)
    }

    /// Every seed's checkpoint of `stage`.
    fn load(&self, stage: Stage) -> Result<Vec<Checkpoint>> {
        self.seeds.iter().map(|seed| self.load_one(seed.run, stage)).collect()
    }

    fn load_one(&self, run: &RunDir, stage: Stage) -> Result<Checkpoint> {
        let ckpt = Checkpoint::load(&run.checkpoint_path(stage))?;
        let (len, obs, act) = (ckpt.meta("dataset.len")?, ckpt.meta("dataset.obs_dim")?, ckpt.meta("dataset.act_dim")?);
        let here = (self.data.len.to_string(), self.data.obs_dim.to_string(), self.data.act_dim.to_string());
        if (len, obs, act) != (here.0.as_str(), here.1.as_str(), here.2.as_str()) {
            bail!(
                "{}: this run was trained on {len} transitions of {obs}-d observations and {act}-d actions, not on {}",
                run.path().display(),
                self.data.source.display()
            );
        }
        Ok(ckpt)
    }

    /// A fresh checkpoint per seed.
    fn new_checkpoints(&self, step: u64) -> Vec<Checkpoint> {
        let mut ckpt = Checkpoint::new();
        ckpt.set_meta("step", step.to_string());
        ckpt.set_meta("dataset.len", self.data.len.to_string());
        ckpt.set_meta("dataset.obs_dim", self.data.obs_dim.to_string());
        ckpt.set_meta("dataset.act_dim", self.data.act_dim.to_string());
        vec![ckpt; self.copies()]
    }

    /// Plots every seed's learning curves.
    fn plot(&self) -> Result<()> {
        for seed in &self.seeds {
            plot_learning_curves(&seed.run.metrics_path(), &seed.run.plot_path())?;
        }
        Ok(())
    }

    /// Stage 1: conditional flow matching of the dataset's actions given its states.
    fn behaviour(&mut self, states: &mut [RunState], spec: &VelocitySpec) -> Result<Option<VelocityNet>> {
        let (gpu, cfg, copies) = (self.gpu, &self.config.behaviour, self.copies());
        let stage = Stage::Behaviour;
        let seed = stage_seed(self.config.seed, stage);
        if states[0].is_completed(stage) {
            return load_velocity_seeds(&self.load(stage)?, gpu, "behaviour").map(Some);
        }
        let net = VelocityNet::for_seeds(gpu, spec, seed, copies)?;
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
        let params = spec.mlp().param_count();
        let mut step = states[0].resume_step(stage);
        if step > 0 {
            let ckpts = self.load(stage)?;
            load_mlp_seeds(&ckpts, gpu, &["behaviour"], &net.mlp)?;
            load_adam_seeds(&ckpts, gpu, &["behaviour"], &mut trainer.adam, params)?;
            for (name, rng) in ["minibatch", "noise", "time"].iter().zip(trainer.rng.iter_mut()) {
                load_rng(&ckpts, name, rng)?;
            }
        }
        let total = cfg.steps;
        let bar = progress(stage, total, step);
        while step < total {
            let stops = [log_every, self.config.run.checkpoint_every, self.config.run.eval_every];
            let stop = next_stop(step, total, &stops);
            let first_slot = trainer.steps();
            let rate = run_chunk(gpu, stop - step, |rec| trainer.record_step(rec, &net))?;
            let losses = read_ring(gpu, &trainer.losses, first_slot, (stop - step) as usize, copies)?;
            let mut fields = loss_fields(&losses, copies, rate);
            self.check_finite(stage, stop, "loss", "the flow-matching loss", &fields)?;
            let out_of_budget = self.spend(stop - step);
            step = stop;
            if self.eval_due(step, total) {
                bar.set_message("evaluating");
                for (f, eval) in fields.iter_mut().zip(self.evaluate(&net, "behaviour")?) {
                    f.extend(eval);
                }
            }
            self.record(stage, step, &fields)?;
            bar.set_position(step);
            bar.set_message(format!("loss {:.4}", mean_of(&fields, "loss")));
            let checkpoint_due =
                step.is_multiple_of(self.config.run.checkpoint_every.max(1)) || step == total || out_of_budget;
            if checkpoint_due {
                let mut ckpts = self.new_checkpoints(step);
                save_velocity_seeds(&mut ckpts, gpu, "behaviour", &net)?;
                save_adam_seeds(&mut ckpts, gpu, &["behaviour"], &trainer.adam, params)?;
                for (name, rng) in ["minibatch", "noise", "time"].iter().zip(trainer.rng.iter()) {
                    save_rng(&mut ckpts, name, rng);
                }
                self.save(ckpts, states, stage, step, step == total)?;
            }
            if out_of_budget && step < total {
                bar.abandon();
                return Ok(None);
            }
        }
        bar.finish();
        self.plot()?;
        Ok(Some(net))
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
        if !states[0].is_completed(stage) {
            // A resumed run recomputes the support actions but logs them once.
            let seconds = started.elapsed().as_secs_f64();
            let actions = (copies * self.data.len * m) as f64;
            let fields = BTreeMap::from([("actions_per_s".into(), actions / seconds)]);
            self.record(stage, 0, &vec![fields; copies])?;
        }
        self.complete(states, stage)?;
        Ok(next_support)
    }

    /// Stage 3: the twin critic (softmax Q-learning over the support, or IQL).
    fn critic(&mut self, states: &mut [RunState], next_support: &GpuBuffer) -> Result<Option<TwinCritic>> {
        let (gpu, cfg, copies) = (self.gpu, &self.config.critic, self.copies());
        let stage = Stage::Critic;
        let seed = stage_seed(self.config.seed, stage);
        let net = &self.config.critic_net;
        let (obs, act) = (self.data.obs_dim, self.data.act_dim);
        let spec = MlpSpec::new(act + obs, &net.hidden, 1, net.activation);
        let critic = TwinCritic::for_seeds(gpu, &spec, seed, copies)?;
        let value_spec = MlpSpec::new(obs, &net.hidden, 1, net.activation);
        let value = match cfg.kind {
            CriticKind::Iql => {
                let params: Vec<Vec<f32>> =
                    (0..copies as u64).map(|c| value_spec.init_params(network_seed(seed.wrapping_add(c), 2))).collect();
                let refs: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
                Some(Mlp::copies_from_params(gpu, &value_spec, &refs)?)
            }
            CriticKind::Softmax => None,
        };
        let load_heads = |ckpts: &[Checkpoint]| -> Result<()> {
            load_mlp_seeds(ckpts, gpu, &ONLINE_HEADS, &critic.online)?;
            load_mlp_seeds(ckpts, gpu, &TARGET_HEADS, &critic.target)
        };
        let head_params = spec.param_count();
        if states[0].is_completed(stage) {
            load_heads(&self.load(stage)?)?;
            return Ok(Some(critic));
        }
        let log_every = self.config.run.log_every.max(1);
        let m = self.config.support.actions;
        let mut trainer =
            CriticTrainer::new(gpu, self.data, next_support, m, &critic, value, cfg, seed, log_every as usize)?;
        let mut step = states[0].resume_step(stage);
        if step > 0 {
            let ckpts = self.load(stage)?;
            load_heads(&ckpts)?;
            load_adam_seeds(&ckpts, gpu, &ONLINE_HEADS, &mut trainer.adam, head_params)?;
            load_rng(&ckpts, "minibatch", &mut trainer.sampler.rng)?;
            if let Some((value, adam)) = trainer.value_parts() {
                load_mlp_seeds(&ckpts, gpu, &["value"], value)?;
                load_adam_seeds(&ckpts, gpu, &["value"], adam, value_spec.param_count())?;
            }
        }
        let total = cfg.steps;
        let bar = progress(stage, total, step);
        let width = stats_width(copies);
        while step < total {
            let stop = next_stop(step, total, &[log_every, self.config.run.checkpoint_every]);
            let first_slot = trainer.steps();
            let rate = run_chunk(gpu, stop - step, |rec| trainer.record_step(rec, &critic))?;
            let n = (stop - step) as usize;
            let stats = read_ring(gpu, &trainer.stats, first_slot, n, width)?;
            let out_of_budget = self.spend(stop - step);
            step = stop;
            let mut fields = vec![BTreeMap::from([("steps_per_s".to_string(), rate)]); copies];
            for (k, name) in CRITIC_STATS.iter().enumerate() {
                if *name == "value_loss" && cfg.kind != CriticKind::Iql {
                    continue;
                }
                for (c, f) in fields.iter_mut().enumerate() {
                    f.insert(name.to_string(), column_mean(&stats, width, stat_index(k, copies, c)));
                }
                self.check_finite(stage, step, name, name, &fields)?;
            }
            if step == total {
                // How the finished critic rates actions off the data against the data's own.
                for (f, probe) in fields.iter_mut().zip(critic_probe(gpu, &critic, self.data)?) {
                    f.extend(probe);
                }
            }
            bar.set_position(step);
            let (loss, q) = (mean_of(&fields, "q1_loss"), mean_of(&fields, "q_mean"));
            bar.set_message(format!("q1 loss {loss:.4} Q {q:.2}"));
            self.record(stage, step, &fields)?;
            if step.is_multiple_of(self.config.run.checkpoint_every.max(1)) || step == total || out_of_budget {
                let mut ckpts = self.new_checkpoints(step);
                save_mlp_seeds(&mut ckpts, gpu, &ONLINE_HEADS, &critic.online)?;
                save_mlp_seeds(&mut ckpts, gpu, &TARGET_HEADS, &critic.target)?;
                save_adam_seeds(&mut ckpts, gpu, &ONLINE_HEADS, &trainer.adam, head_params)?;
                save_rng(&mut ckpts, "minibatch", &trainer.sampler.rng);
                if let Some((value, adam)) = trainer.value_parts() {
                    save_mlp_seeds(&mut ckpts, gpu, &["value"], value)?;
                    save_adam_seeds(&mut ckpts, gpu, &["value"], adam, value_spec.param_count())?;
                }
                self.save(ckpts, states, stage, step, step == total)?;
            }
            if out_of_budget && step < total {
                bar.abandon();
                return Ok(None);
            }
        }
        bar.finish();
        drop(trainer);
        self.plot()?;
        Ok(Some(critic))
    }

    /// Stage 4: Q-weighted iterative policy improvement, starting from the behaviour policy.
    fn policy(
        &mut self,
        states: &mut [RunState],
        behaviour: &VelocityNet,
        critic: &TwinCritic,
    ) -> Result<Option<(Vec<TrainSummary>, VelocityNet)>> {
        let (gpu, cfg, copies) = (self.gpu, &self.config.policy, self.copies());
        let stage = Stage::Policy;
        if states[0].is_completed(stage) {
            // Stopped during the final evaluation: the final policy is saved, and its last
            // renewal's statistics are in the metrics.
            let policy = load_velocity_seeds(&self.load(stage)?, gpu, "policy")?;
            let summaries = self.seeds.iter().map(|seed| final_summary(seed.run, cfg.steps)).collect::<Result<_>>()?;
            return Ok(Some((summaries, policy)));
        }
        let seed = stage_seed(self.config.seed, stage);
        let policy = behaviour.duplicate(gpu)?;
        let log_every = self.config.run.log_every.max(1);
        let (m, euler) = (self.config.support.actions, self.config.support.euler_steps);
        let mut improver =
            PolicyImprover::new(gpu, self.data, &policy, critic, cfg, m, euler, seed, log_every as usize)?;
        let from_behaviour = match cfg.support_from {
            SupportSource::Behaviour => Some(improver.support_sampler(gpu, self.data, behaviour)?),
            SupportSource::Policy => None,
        };
        let mut step = states[0].resume_step(stage);
        if step > 0 {
            let ckpts = self.load(stage)?;
            load_mlp_seeds(&ckpts, gpu, &["policy"], &policy.mlp)?;
            let params = policy.spec.mlp().param_count();
            load_adam_seeds(&ckpts, gpu, &["policy"], &mut improver.adam, params)?;
            let rng = &mut improver.rng;
            for (name, stream) in [
                ("minibatch", &mut rng.minibatch),
                ("noise", &mut rng.noise),
                ("time", &mut rng.time),
                ("support", &mut rng.support),
            ] {
                load_rng(&ckpts, name, stream)?;
            }
        }
        let total = cfg.steps;
        let renew = cfg.renew_every.max(1);
        let bar = progress(stage, total, step);
        loop {
            if step.is_multiple_of(renew) || step == total {
                if step < total && self.budget == Some(0) {
                    // Out of budget: save here, at a renewal, so the resumed run renews exactly.
                    self.save_policy(states, step, &policy, &improver, false)?;
                    bar.abandon();
                    return Ok(None);
                }
                if step < total {
                    // Checkpoint just before a renewal: a resumed run renews exactly as this one.
                    self.save_policy(states, step, &policy, &improver, false)?;
                }
                let mut rec = Recorder::new(gpu);
                match &from_behaviour {
                    // The last renewal measures the final policy, whatever the others draw from.
                    Some(sampler) if step < total => improver.record_renewal_from(&mut rec, sampler, behaviour, critic),
                    _ => improver.record_renewal(&mut rec, &policy, critic),
                }
                rec.submit_and_wait()?;
                let mut fields = self.support_statistics(&improver, m)?;
                self.check_finite(stage, step, "q_policy_mean", "the support Q values", &fields)?;
                if step < total && self.config.run.eval_every > 0 {
                    // The policy this renewal sampled from (at step 0 the behaviour policy),
                    // so every renewal's effect on the score is seen; the final policy is
                    // evaluated once, by the final evaluation.
                    bar.set_message("evaluating");
                    for (f, eval) in fields.iter_mut().zip(self.evaluate(&policy, "policy")?) {
                        f.extend(eval);
                    }
                }
                bar.set_message(format!("Q policy {:.3}", mean_of(&fields, "q_policy_mean")));
                self.record(stage, step, &fields)?;
                if step == total {
                    // The last renewal measures the final policy; then the run is done.
                    self.save_policy(states, step, &policy, &improver, true)?;
                    bar.finish();
                    self.plot()?;
                    let mut summaries = Vec::new();
                    for (seed, f) in self.seeds.iter().zip(&fields) {
                        summaries.push(TrainSummary {
                            q_dataset: Some(f["q_data_mean"]),
                            q_behaviour: behaviour_q(seed.run)?,
                            q_policy: Some(f["q_policy_mean"]),
                            ..Default::default()
                        });
                    }
                    return Ok(Some((summaries, policy)));
                }
            }
            let stop = next_stop(step, total, &[log_every, renew, self.config.run.eval_every]);
            let first_slot = improver.steps();
            let rate = run_chunk(gpu, stop - step, |rec| improver.record_step(rec, &policy))?;
            let losses = read_ring(gpu, &improver.losses, first_slot, (stop - step) as usize, copies)?;
            let mut fields = loss_fields(&losses, copies, rate);
            self.check_finite(stage, stop, "loss", "the weighted flow-matching loss", &fields)?;
            // The budget stops the policy stage only at renewals, where it resumes exactly.
            self.spend(stop - step);
            step = stop;
            bar.set_position(step);
            // The final policy is evaluated once, by the final evaluation, and the policy of
            // a renewal step by the renewal.
            if step < total && !step.is_multiple_of(renew) && self.eval_due(step, total) {
                bar.set_message("evaluating");
                for (f, eval) in fields.iter_mut().zip(self.evaluate(&policy, "policy")?) {
                    f.extend(eval);
                }
            }
            self.record(stage, step, &fields)?;
        }
    }

    /// A periodic evaluation is due after `step` of a stage of `total` steps.
    fn eval_due(&self, step: u64, total: u64) -> bool {
        let every = self.config.run.eval_every;
        every > 0 && (step.is_multiple_of(every) || step == total)
    }

    /// Evaluates every seed's copy of `net` in the run's environment, each with the episodes
    /// of its own seed; the metrics fields of the results.
    fn evaluate(&mut self, net: &VelocityNet, name: &str) -> Result<Vec<BTreeMap<String, f64>>> {
        let reports = self.evaluate_seeds(net, name, true)?;
        Ok(reports.iter().map(eval_fields).collect())
    }

    fn evaluate_seeds(&mut self, net: &VelocityNet, name: &str, quiet: bool) -> Result<Vec<EvalReport>> {
        let gpu = self.gpu;
        let base = stage_seed(self.config.seed, Stage::Evaluation);
        let mut reports = Vec::new();
        for c in 0..self.copies() {
            let single;
            let copy = match net.copies() {
                1 => net,
                _ => {
                    single = net.copy(gpu, c)?;
                    &single
                }
            };
            let seed = base.wrapping_add(c as u64);
            reports.push(self.evaluator()?.run_with_seed(gpu, copy, name, quiet, seed)?);
        }
        Ok(reports)
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

    /// Each seed's final policy's evaluation, written to its eval.json and metrics. Skipped,
    /// with a note, when the run's environment is unknown or this build has no MuJoCo.
    fn final_evaluation(&mut self, policy: &VelocityNet) -> Result<Vec<Option<EvalReport>>> {
        let none = vec![None; self.copies()];
        let Some(spec) = self.eval_env else {
            eprintln!("no final evaluation: the dataset's name does not say its environment (set run.eval_env)");
            return Ok(none);
        };
        if matches!(spec, EnvSpec::Locomotion { .. }) && !cfg!(feature = "mujoco") {
            eprintln!("no final evaluation: this qipo was built without MuJoCo");
            return Ok(none);
        }
        let seeds = match self.copies() {
            1 => String::new(),
            n => format!(" for each of {n} seeds"),
        };
        eprintln!("evaluating the final policy: {} episodes of {spec}{seeds}", self.config.run.eval_episodes);
        let dir = self.seeds[0].run.path().display().to_string();
        let reports = self
            .evaluate_seeds(policy, "policy", false)
            .with_context(|| format!("the final evaluation failed; rerun it with `qipo eval --checkpoint {dir}`"))?;
        for (seed, report) in self.seeds.iter().zip(&reports) {
            crate::run::write_atomic(&seed.run.path().join(EVAL_FILE), &serde_json::to_vec_pretty(report)?)?;
        }
        // The same names as the periodic evaluations, so the plot shows them in one panel;
        // the standard errors and every episode are in eval.json.
        let fields: Vec<_> = reports.iter().map(eval_fields).collect();
        self.record(Stage::Evaluation, 0, &fields)?;
        self.plot()?;
        Ok(reports.into_iter().map(Some).collect())
    }

    fn save_policy(
        &self,
        states: &mut [RunState],
        step: u64,
        policy: &VelocityNet,
        improver: &PolicyImprover,
        done: bool,
    ) -> Result<()> {
        let mut ckpts = self.new_checkpoints(step);
        save_velocity_seeds(&mut ckpts, self.gpu, "policy", policy)?;
        let params = policy.spec.mlp().param_count();
        save_adam_seeds(&mut ckpts, self.gpu, &["policy"], &improver.adam, params)?;
        let rng = &improver.rng;
        for (name, stream) in
            [("minibatch", &rng.minibatch), ("noise", &rng.noise), ("time", &rng.time), ("support", &rng.support)]
        {
            save_rng(&mut ckpts, name, stream);
        }
        self.save(ckpts, states, Stage::Policy, step, done)
    }

    /// Each seed's statistics of its support sets after a renewal: the mean Q of the dataset
    /// actions and of the policy's, the entropy and effective sample size of the weights, and
    /// how far the policy's samples have drifted from the dataset's actions.
    fn support_statistics(&self, improver: &PolicyImprover, m: usize) -> Result<Vec<BTreeMap<String, f64>>> {
        let q: Vec<f32> = improver.q_values.read(self.gpu)?;
        let w: Vec<f32> = improver.weights.read(self.gpu)?;
        let per_seed = q.len() / self.copies();
        let (len, act) = (self.data.len, self.data.act_dim);
        let drift = support_drift(self.gpu, &improver.support, self.copies(), len, m, act)?;
        Ok(q.chunks(per_seed)
            .zip(w.chunks(per_seed))
            .zip(drift)
            .map(|((q, w), drift)| support_statistics(q, w, m).into_iter().chain(drift).collect())
            .collect())
    }
}

/// The mean Q of the behaviour policy's samples: the first renewal of policy improvement,
/// read back from the metrics so a resumed run reports it too.
fn behaviour_q(run: &RunDir) -> Result<Option<f64>> {
    let records = crate::run::metrics::read_metrics(&run.metrics_path())?;
    Ok(records
        .iter()
        .find(|r| r["stage"] == "policy" && r["step"] == 0 && r.get("q_policy_mean").is_some())
        .and_then(|r| r["q_policy_mean"].as_f64()))
}

/// The summary of a finished policy stage of `total` steps, from the metrics of its last
/// renewal (which measured the final policy).
fn final_summary(run: &RunDir, total: u64) -> Result<TrainSummary> {
    let records = crate::run::metrics::read_metrics(&run.metrics_path())?;
    let last =
        records.iter().rev().find(|r| r["stage"] == "policy" && r["step"] == total && r.get("q_policy_mean").is_some());
    let field = |name: &str| last.and_then(|r| r[name].as_f64());
    Ok(TrainSummary {
        q_dataset: field("q_data_mean"),
        q_behaviour: behaviour_q(run)?,
        q_policy: field("q_policy_mean"),
        ..Default::default()
    })
}

/// Statistics of one seed's support sets: its Q values and weights, M + 1 per state.
fn support_statistics(q: &[f32], w: &[f32], m: usize) -> BTreeMap<String, f64> {
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
    BTreeMap::from([
        ("q_data_mean".into(), q_data / n),
        ("q_policy_mean".into(), q_policy / n),
        ("weight_entropy".into(), entropy / n),
        ("weight_ess".into(), ess / n),
        ("weight_dataset_action".into(), w_data / n),
    ])
}
