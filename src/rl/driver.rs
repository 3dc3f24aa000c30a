//! The loop every training stage runs in. A stage records its steps, reads back what they
//! measured and saves and loads its state ([`StageTrainer`]); [`Driver::drive`] does the
//! rest, the same for every stage: the chunks of steps recorded into one submit, the step
//! budget, the finiteness check, evaluations, metrics records, checkpoints and the progress
//! bar (ARCHITECTURE.md "The GPU owns the loop", "Runs are reproducible and resumable").

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::config::{CopySettings, TrainConfig};
use super::evaluation::Evaluator;
use super::metrics::{EvalMetrics, Record, StageMetrics};
use crate::data::{GpuDataset, Normalization};
use crate::envs::EnvSpec;
use crate::eval::EvalReport;
use crate::flow::VelocityNet;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::report::{Progress, Report, Silent, Task, Unit};
use crate::run::checkpoint::{Checkpoint, CheckpointIdentity, RunState};
use crate::run::metrics::MetricsWriter;
use crate::run::plot::plot_learning_curves;
use crate::run::{stage_steps, RunDir, Stage};
use crate::stats::mean_f32;

/// A training stage as the driver runs it. Every network holds a copy per seed, so each
/// method acts on all seeds at once, and metrics come one per seed.
pub trait StageTrainer {
    /// What a logging interval (or a renewal) measures, for one seed.
    type Metrics: StageMetrics;

    /// Records one optimisation step.
    fn record_step(&mut self, rec: &mut Recorder);

    /// Each seed's metrics of the `steps` steps recorded last (at most a logging interval).
    fn read_metrics(&self, gpu: &Gpu, steps: usize) -> Result<Vec<Self::Metrics>>;

    /// Writes the stage's state (networks, optimisers, random streams) into each seed's
    /// checkpoint.
    fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint]) -> Result<()>;

    /// Restores the state [`Self::save`] wrote.
    fn load(&mut self, gpu: &Gpu, ckpts: &[Checkpoint]) -> Result<()>;

    /// The policy evaluated in the environment as the stage trains, if any.
    fn evaluated(&self) -> Option<&VelocityNet> {
        None
    }

    /// Adds what is measured once, after the last step, to the last interval's metrics.
    fn measure_end(&self, _gpu: &Gpu, _metrics: &mut [Self::Metrics]) -> Result<()> {
        Ok(())
    }

    /// Every how many steps the stage renews what it trains on (0: never). A stage that
    /// renews saves, and stops for the budget, only just before a renewal, and renews once
    /// more after its last step to measure the result.
    fn renew_every(&self) -> u64 {
        0
    }

    /// Renews (`last`: the measurement after the last step); each seed's statistics.
    fn renew(&mut self, _gpu: &Gpu, _last: bool) -> Result<Vec<Self::Metrics>> {
        bail!("this stage renews nothing")
    }
}

/// What every stage is built on: the device, the data on it, the stage's seed (copy c of a
/// multi-seed run draws what a run of seed + c draws) and how many steps' statistics it
/// keeps between reads.
#[derive(Clone, Copy)]
pub struct StageContext<'a> {
    pub gpu: &'a Gpu,
    pub data: &'a GpuDataset,
    pub seed: u64,
    pub ring_len: usize,
}

/// What each run writes to as it trains, and its β.
pub struct SeedState<'a> {
    pub run: &'a RunDir,
    pub metrics: MetricsWriter,
    /// Its `policy.beta` and `policy.lr`: the runs of one seed may differ in them.
    pub policy: CopySettings,
}

/// What every stage of a run shares: the device, the settings, the data, each seed's run
/// directory and metrics, the evaluation environment and the step budget.
pub struct Driver<'a> {
    /// Optimisation steps this invocation may still take (None: no limit).
    pub budget: Option<u64>,
    pub gpu: &'a Gpu,
    /// The first seed's settings; the others differ only in the seed (and, with a grid of
    /// β, in `policy.beta`).
    pub config: &'a TrainConfig,
    /// Every run: seed by seed, and within a seed its values of β, in order.
    pub seeds: Vec<SeedState<'a>>,
    /// The runs of each seed, one per value of β. Behaviour, support and critic train a copy
    /// per seed and save it into each of the seed's runs; the policy stage trains a copy per
    /// run. 1: no grid.
    pub runs_per_seed: usize,
    pub data: &'a GpuDataset,
    /// Where policies are evaluated, if the run knows its environment.
    pub eval_env: Option<EnvSpec>,
    /// Created at the first evaluation and kept: each evaluation starts the same episodes.
    pub evaluator: Option<Evaluator>,
    pub normalization: &'a Normalization,
    /// The seed from which each evaluation's episodes are drawn (copy c adds c).
    pub eval_seed: u64,
    /// Where notes on the run go.
    pub report: &'a dyn Report,
}

impl Driver<'_> {
    /// Runs `trainer` through `stage` from where the run stands to the stage's last step;
    /// false when the budget stopped it first (resumably: the last state is saved).
    pub fn drive<T: StageTrainer>(&mut self, states: &mut [RunState], stage: Stage, trainer: &mut T) -> Result<bool> {
        let (gpu, config) = (self.gpu, self.config);
        let total = stage_steps(config, stage);
        let renew = trainer.renew_every();
        let renews_at = |step: u64| renew > 0 && (step.is_multiple_of(renew) || step == total);
        // A stage that renews resumes exactly only from a renewal; the others from any step.
        let save_every = if renew > 0 { renew } else { config.run.checkpoint_every };
        let eval_every = if trainer.evaluated().is_some() { config.run.eval_every } else { 0 };
        let mut step = states[0].resume_step(stage);
        if step > 0 {
            trainer.load(gpu, &self.load(stage)?)?;
        }
        let bar = self.report.progress(Task { label: stage.name().into(), total, done: step, unit: Unit::Steps });
        loop {
            if renews_at(step) {
                // Saved just before the renewal, so a resumed run renews exactly as this one;
                // the budget stops the stage only here.
                if step < total {
                    self.save(trainer, states, stage, step, false)?;
                    if self.budget == Some(0) {
                        bar.abandon();
                        return Ok(false);
                    }
                }
                let metrics = trainer.renew(gpu, step == total)?;
                self.check_finite(stage, step, &metrics)?;
                // The policy this renewal sampled from, so every renewal's effect on the score
                // is seen; the final policy is evaluated once, by the final evaluation.
                let eval =
                    self.evaluate(trainer.evaluated().filter(|_| step < total && eval_every > 0), stage, bar.as_ref())?;
                bar.set_note(&T::Metrics::progress(&metrics));
                self.record_metrics(stage, step, &metrics, None, eval)?;
                if step == total {
                    self.save(trainer, states, stage, step, true)?;
                }
            }
            if step == total {
                break;
            }
            // The next chunk: up to the next step to log, save or evaluate at.
            let stop = next_stop(step, total, &[config.run.log_every.max(1), save_every, eval_every]);
            let steps = stop - step;
            let rate = run_chunk(gpu, steps, |rec| trainer.record_step(rec))?;
            let mut metrics = trainer.read_metrics(gpu, steps as usize)?;
            self.check_finite(stage, stop, &metrics)?;
            let out_of_budget = self.spend(steps);
            step = stop;
            bar.set_done(step);
            if step == total {
                trainer.measure_end(gpu, &mut metrics)?;
            }
            // A renewal at this step (after the last: the final evaluation) evaluates instead.
            let eval_due = eval_every > 0 && (step.is_multiple_of(eval_every) || step == total);
            let eval =
                self.evaluate(trainer.evaluated().filter(|_| eval_due && !renews_at(step)), stage, bar.as_ref())?;
            bar.set_note(&T::Metrics::progress(&metrics));
            self.record_metrics(stage, step, &metrics, Some(rate), eval)?;
            if renew == 0 {
                // The others save at their checkpoint interval, at the end and when the budget
                // is spent, from where they resume exactly.
                if step.is_multiple_of(save_every.max(1)) || step == total || out_of_budget {
                    self.save(trainer, states, stage, step, step == total)?;
                }
                if out_of_budget && step < total {
                    bar.abandon();
                    return Ok(false);
                }
            }
        }
        bar.finish();
        self.plot()?;
        Ok(true)
    }

    /// Spends `steps` of the budget; true when it is used up. A stop asked for through the
    /// report uses it up, so the stage stops where the budget would stop it.
    fn spend(&mut self, steps: u64) -> bool {
        if self.report.stop_requested() {
            self.budget = Some(0);
        }
        match &mut self.budget {
            Some(left) => {
                *left = left.saturating_sub(steps);
                *left == 0
            }
            None => false,
        }
    }

    /// The seeds: copies of the networks of every stage before policy improvement.
    pub fn copies(&self) -> usize {
        self.seeds.len() / self.runs_per_seed
    }

    /// The copies `stage` trains: a copy per run in policy improvement and its evaluation,
    /// else a copy per seed.
    pub fn stage_copies(&self, stage: Stage) -> usize {
        match stage {
            Stage::Policy | Stage::Evaluation => self.seeds.len(),
            _ => self.copies(),
        }
    }

    /// The runs copy `copy` of a network of `copies` copies is saved and recorded into: its
    /// own, or with a copy per seed, each of its seed's.
    fn runs_of(&self, copies: usize, copy: usize) -> std::ops::Range<usize> {
        let per_copy = self.seeds.len() / copies.max(1);
        copy * per_copy..(copy + 1) * per_copy
    }

    /// Writes the records (one per copy of the stage's networks) to the metrics of each
    /// copy's runs.
    pub fn record(&mut self, stage: Stage, step: u64, fields: &[impl Serialize]) -> Result<()> {
        for (copy, record) in fields.iter().enumerate() {
            for r in self.runs_of(fields.len(), copy) {
                self.seeds[r].metrics.record_fields(stage, step, record)?;
            }
        }
        Ok(())
    }

    /// Writes each seed's metrics, with the steps' speed and the evaluation made, if any.
    fn record_metrics<M: StageMetrics>(
        &mut self,
        stage: Stage,
        step: u64,
        metrics: &[M],
        steps_per_s: Option<f64>,
        evals: Option<Vec<EvalMetrics>>,
    ) -> Result<()> {
        let mut evals = evals.map(Vec::into_iter);
        let records: Vec<Record<M>> = metrics
            .iter()
            .map(|metrics| Record { metrics, steps_per_s, eval: evals.as_mut().and_then(Iterator::next) })
            .collect();
        self.record(stage, step, &records)
    }

    /// Fails, naming the stage and step, on the first value that is not finite (value by
    /// value, seed by seed).
    fn check_finite<M: StageMetrics>(&self, stage: Stage, step: u64, metrics: &[M]) -> Result<()> {
        let checks: Vec<_> = metrics.iter().map(StageMetrics::finite_checks).collect();
        for k in 0..checks.first().map_or(0, Vec::len) {
            for (copy, checks) in checks.iter().enumerate() {
                let (what, value) = checks[k];
                if !value.is_finite() {
                    // Checkpoints are saved only after this check, so the stage's one on disk
                    // is good; before its first, there is none to promise.
                    let run = self.seeds[self.runs_of(metrics.len(), copy).start].run;
                    let checkpoint = run.checkpoint_path(stage);
                    let kept = match checkpoint.exists() {
                        true => format!("the last good checkpoint is kept in {}", checkpoint.display()),
                        false => format!("no checkpoint of the {stage} stage was saved before it"),
                    };
                    bail!("{stage} diverged by step {step}: {what} is {value}; {kept}");
                }
            }
        }
        Ok(())
    }

    /// Saves each seed's checkpoint of `stage` at `step`, then its progress state. The
    /// checkpoint carries that state too: a kill between the two writes resumes from it.
    fn save<T: StageTrainer>(
        &self,
        trainer: &T,
        states: &mut [RunState],
        stage: Stage,
        step: u64,
        done: bool,
    ) -> Result<()> {
        let copies = self.stage_copies(stage);
        let mut ckpts = self.new_checkpoints(step, copies);
        trainer.save(self.gpu, &mut ckpts)?;
        for (r, (seed, state)) in self.seeds.iter().zip(states.iter_mut()).enumerate() {
            // A copy per seed is saved into each of the seed's runs.
            let mut ckpt = ckpts[r * copies / self.seeds.len()].clone();
            if done {
                state.complete(stage);
            } else {
                state.set_progress(stage, step);
            }
            state.metrics_records = seed.metrics.records();
            let seed_number = self.config.seed.wrapping_add((r / self.runs_per_seed) as u64);
            ckpt.set_identity(&CheckpointIdentity { stage, step, seed: seed_number, state: state.clone() })?;
            std::fs::create_dir_all(seed.run.checkpoint_dir())?;
            if self.seeds.len() > 1 {
                // The seeds' checkpoints are replaced one after the other: each keeps the one
                // it replaces, for a kill in between (see RunDir::roll_back_to).
                seed.run.keep_previous_checkpoint(stage)?;
            }
            ckpt.save_atomic(&seed.run.checkpoint_path(stage))?;
        }
        self.write_states(states)
    }

    /// Saves each seed's progress state with the number of metrics records it covers.
    pub fn write_states(&self, states: &mut [RunState]) -> Result<()> {
        for (seed, state) in self.seeds.iter().zip(states.iter_mut()) {
            state.metrics_records = seed.metrics.records();
            seed.run.write_state(state)?;
        }
        Ok(())
    }

    /// Marks `stage` done for every seed.
    pub fn complete(&self, states: &mut [RunState], stage: Stage) -> Result<()> {
        for state in states.iter_mut() {
            state.complete(stage);
        }
        self.write_states(states)
    }

    /// The checkpoint of `stage` of every copy it trains (with a copy per seed: of the
    /// seed's first run).
    pub fn load(&self, stage: Stage) -> Result<Vec<Checkpoint>> {
        let copies = self.stage_copies(stage);
        (0..copies).map(|copy| self.load_one(self.seeds[self.runs_of(copies, copy).start].run, stage)).collect()
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

    /// A fresh checkpoint per copy.
    fn new_checkpoints(&self, step: u64, copies: usize) -> Vec<Checkpoint> {
        let mut ckpt = Checkpoint::new();
        ckpt.set_meta("step", step.to_string());
        ckpt.set_meta("dataset.len", self.data.len.to_string());
        ckpt.set_meta("dataset.obs_dim", self.data.obs_dim.to_string());
        ckpt.set_meta("dataset.act_dim", self.data.act_dim.to_string());
        vec![ckpt; copies]
    }

    /// Plots every seed's learning curves.
    pub fn plot(&self) -> Result<()> {
        for seed in &self.seeds {
            plot_learning_curves(&seed.run.metrics_path(), &seed.run.plot_path())?;
        }
        Ok(())
    }

    /// Evaluates every seed's copy of `net`, if given, in the run's environment, each with
    /// the episodes of its own seed; the metrics of the results.
    fn evaluate(
        &mut self,
        net: Option<&VelocityNet>,
        stage: Stage,
        bar: &dyn Progress,
    ) -> Result<Option<Vec<EvalMetrics>>> {
        let Some(net) = net else { return Ok(None) };
        bar.set_note("evaluating");
        let reports = self.evaluate_seeds(net, stage.name(), true)?;
        Ok(Some(reports.iter().map(EvalMetrics::of).collect()))
    }

    /// Evaluates every seed's copy of `net` (named `name` in messages), showing the progress
    /// unless `quiet`.
    pub fn evaluate_seeds(&mut self, net: &VelocityNet, name: &str, quiet: bool) -> Result<Vec<EvalReport>> {
        let (gpu, report) = (self.gpu, self.report);
        let report = if quiet { &Silent } else { report };
        let mut reports = Vec::new();
        let copies = net.copies();
        for c in 0..copies {
            let single;
            let copy = match net.copies() {
                1 => net,
                _ => {
                    single = net.copy(gpu, c)?;
                    &single
                }
            };
            // Every run of a seed starts its seed's episodes.
            let seed_index = self.runs_of(copies, c).start / self.runs_per_seed;
            let seed = self.eval_seed.wrapping_add(seed_index as u64);
            reports.push(self.evaluator()?.run_with_seed(gpu, copy, name, report, seed)?);
        }
        Ok(reports)
    }

    fn evaluator(&mut self) -> Result<&mut Evaluator> {
        if self.evaluator.is_none() {
            let spec = self.eval_env.context("the run has no evaluation environment (run.eval_env)")?;
            let run = &self.config.run;
            let observations = self.normalization.observations.clone();
            let evaluator = Evaluator::new(
                spec,
                run.scoring(),
                run.eval_episodes,
                self.config.support.euler_steps,
                observations,
                self.eval_seed,
            )?;
            self.evaluator = Some(evaluator);
        }
        Ok(self.evaluator.as_mut().expect("created above"))
    }
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

/// The last `n` of the `recorded` records of `width` values written so far into a ring
/// buffer (record k lives in slot k mod the ring's length), in order.
pub fn read_ring(gpu: &Gpu, ring: &GpuBuffer, recorded: u64, n: usize, width: usize) -> Result<Vec<f32>> {
    let slots = ring.len / width;
    let all: Vec<f32> = ring.read(gpu)?;
    let first = recorded - n as u64;
    Ok((0..n)
        .flat_map(|k| {
            let slot = ((first + k as u64) % slots as u64) as usize;
            all[slot * width..(slot + 1) * width].iter().copied()
        })
        .collect())
}

/// The mean over records of column `column` of records `width` values wide.
pub fn column_mean(records: &[f32], width: usize, column: usize) -> f64 {
    let values: Vec<f32> = records.chunks(width).map(|row| row[column]).collect();
    mean_f32(&values)
}
