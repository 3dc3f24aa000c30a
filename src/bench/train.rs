//! Training throughput of every QIPO stage (ALGORITHM.md section 4) on a synthetic dataset
//! of hopper's and halfcheetah's shapes: behaviour pretraining, the critic (softmax and IQL)
//! and policy improvement in steps/s, one renewal of the support sets, support sampling in
//! actions/s, and the latency of one action per state as an evaluation loop pays it.
//!
//! Training stages are timed like `qipo train` runs them: many steps recorded into one
//! submit, with the wall clock around submit and wait (and GPU timestamps where the adapter
//! has them), after a warm-up submit; the median of a few such submits is reported.
//! Recording the steps is host work done before the submit; it is reported on its own.

use std::time::Instant;

use anyhow::{Context as _, Result};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::{Dataset, Env, Episode, EpisodeEnd, Format, GpuDataset, References};
use crate::flow::efm::EfmTable;
use crate::flow::{ActionSampler, Architecture, EfmConfig, EfmTrainer, RowSampler, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, GpuTimer, Recorder};
use crate::nn::{Activation, Mlp, MlpSpec};
use crate::ops::AdamConfig;
use crate::random::{streams, RngStream};
use crate::rl::config::{CopySettings, CriticConfig, CriticKind, PolicyConfig, SupportConfig};
use crate::rl::critic::{CriticTrainer, TwinCritic};
use crate::rl::driver::StageContext;
use crate::rl::improve::PolicyImprover;
use crate::rl::presets;
use crate::rl::support::{SupportLayout, SupportSampler};

/// The environments benchmarked: (environment, observation width, action width).
pub const ENVIRONMENTS: [(Env, usize, usize); 2] = [(Env::Hopper, 11, 3), (Env::HalfCheetah, 17, 6)];

/// Hidden layers of the policy and of each critic head.
const HIDDEN_LAYERS: usize = 3;

/// The sizes of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBenchSizes {
    /// Transitions in each synthetic dataset.
    pub transitions: usize,
    /// States per minibatch, in every stage.
    pub batch: usize,
    /// M, support actions per state.
    pub support_actions: usize,
    /// Width of each hidden layer, policy and critic.
    pub hidden: usize,
    /// Gaussian Fourier features of t in the policy's input.
    pub time_features: usize,
    pub euler_steps: usize,
    /// Training steps recorded into each timed submit.
    pub steps_per_submit: usize,
    /// Training steps of the untimed submit before the timed ones.
    pub warmup_steps: usize,
    /// Timed submits of each measurement; the median is reported.
    pub timed_submits: usize,
    /// States of the evaluation-style sampling, one action each.
    pub eval_states: usize,
    /// Timed evaluation-style calls; the median is reported.
    pub latency_calls: usize,
    /// Seeds trained together: every step trains all of them (`qipo train --seeds`).
    pub seeds: usize,
    /// Values of β per seed in one more policy-improvement line (`qipo sweep`'s grid: seeds ×
    /// β copies in the same dispatches); 1: no such line.
    pub betas: usize,
    /// The policy is a residual network (`--policy resnet`: the task presets') instead of
    /// the MLP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resnet: Option<ResNetBench>,
}

/// The residual policy of a benchmark, and its behaviour batches.
#[derive(Debug, Clone, Serialize)]
pub struct ResNetBench {
    /// The down path's widths.
    pub widths: Vec<usize>,
    pub cond_width: usize,
    pub embed_width: usize,
    pub activation: Activation,
    /// States per behaviour step.
    pub behaviour_batch: usize,
}

impl TrainBenchSizes {
    /// The paper's sizes: batch 256, M = 16, 3×256 networks, 32 Fourier features, 10 Euler
    /// steps, on 100k transitions.
    pub fn paper() -> Self {
        Self {
            transitions: 100_000,
            batch: 256,
            support_actions: 16,
            hidden: 256,
            time_features: 32,
            euler_steps: 10,
            steps_per_submit: 200,
            warmup_steps: 10,
            timed_submits: 3,
            eval_states: 10,
            latency_calls: 30,
            seeds: 1,
            betas: 1,
            resnet: None,
        }
    }

    /// The paper's sizes with the task presets' policy: QGPO's residual network and its
    /// behaviour batches of 4096 (as [`presets::paper`] sets them).
    pub fn paper_resnet() -> Self {
        let preset = presets::paper();
        let net = &preset.policy_net;
        let qgpo = ResNetBench {
            widths: net.hidden.clone(),
            cond_width: net.cond_width,
            embed_width: net.embed_width,
            activation: net.activation,
            behaviour_batch: preset.behaviour.batch,
        };
        Self { resnet: Some(qgpo), time_features: net.time_features, ..Self::paper() }
    }

    /// [`Self::quick`] with a small residual policy, fewer transitions and fewer timed steps:
    /// its many small dispatches are slow on a CPU driver, and this keeps it to about a minute.
    pub fn quick_resnet() -> Self {
        let small = ResNetBench {
            widths: vec![32, 16, 8],
            cond_width: 8,
            embed_width: 16,
            activation: Activation::Silu,
            behaviour_batch: 64,
        };
        let fewer = Self { transitions: 256, steps_per_submit: 10, warmup_steps: 2, latency_calls: 5, ..Self::quick() };
        Self { resnet: Some(small), ..fewer }
    }

    /// The policy's velocity network for `obs_dim`-wide states and `act_dim`-wide actions.
    fn policy_spec(&self, obs_dim: usize, act_dim: usize) -> VelocitySpec {
        let (hidden, activation, architecture) = match &self.resnet {
            Some(r) => {
                let resnet = Architecture::Resnet { cond_width: r.cond_width, embed_width: r.embed_width };
                (r.widths.clone(), r.activation, resnet)
            }
            None => (self.hidden_layers(), Activation::Mish, Architecture::Mlp),
        };
        let time_features = self.time_features;
        VelocitySpec {
            dim: act_dim,
            cond_dim: obs_dim,
            time_features,
            time_scale: 30.0,
            hidden,
            activation,
            architecture,
        }
    }

    /// The data and network sizes in words.
    pub fn describe(&self) -> String {
        let seeds = match self.seeds {
            1 => String::new(),
            n => format!("; {n} seeds trained together, each step training all of them"),
        };
        let (h, features) = (self.hidden, self.time_features);
        let (policy, behaviour) = match &self.resnet {
            Some(r) => {
                let widths = r.widths.iter().map(usize::to_string).collect::<Vec<_>>().join("/");
                let act = format!("{:?}", r.activation);
                let policy = format!("policy residual network {widths} {act} with {features} Fourier features");
                (policy, format!(" (behaviour {})", r.behaviour_batch))
            }
            None => (format!("policy {HIDDEN_LAYERS}×{h} Mish with {features} Fourier features"), String::new()),
        };
        format!(
            "{} synthetic transitions, batch {}{behaviour}, M = {}, {policy}, critic {HIDDEN_LAYERS}×{h} ReLU, \
             {} Euler steps{seeds}",
            self.transitions, self.batch, self.support_actions, self.euler_steps
        )
    }

    /// These sizes with one timed submit: for measurements long enough that one is steady.
    fn timed_once(&self) -> Self {
        Self { timed_submits: 1, ..self.clone() }
    }

    /// Small sizes that finish in seconds on a CPU driver: the same code paths, not the
    /// paper's arithmetic.
    pub fn quick() -> Self {
        Self {
            transitions: 1_024,
            batch: 32,
            support_actions: 4,
            hidden: 64,
            steps_per_submit: 50,
            warmup_steps: 5,
            latency_calls: 20,
            ..Self::paper()
        }
    }

    fn hidden_layers(&self) -> Vec<usize> {
        vec![self.hidden; HIDDEN_LAYERS]
    }
}

/// The timing of one training stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageResult {
    pub stage: String,
    /// Steps in each timed submit.
    pub steps: usize,
    /// Steps per second by the wall clock around submit and wait (the median submit).
    pub steps_per_s: f64,
    /// Steps per second by GPU timestamps; null where the adapter has none.
    pub gpu_steps_per_s: Option<f64>,
    /// Wall-clock seconds for 100k steps at `steps_per_s`.
    pub seconds_per_100k: f64,
    /// Host time to record one step (before the submit, not part of `steps_per_s`).
    pub record_us_per_step: f64,
    pub dispatches_per_step: f64,
}

/// The sampling paths: renewal, support sampling and one action per state.
#[derive(Debug, Clone, Serialize)]
pub struct SamplingResult {
    /// One renewal of policy improvement: M actions for every state, min(Q1, Q2) of every
    /// support action and the weights, one submit, by the wall clock.
    pub renewal_s: f64,
    pub renewal_gpu_s: Option<f64>,
    pub renewal_dispatches: usize,
    /// Support sampling alone (stage 2: M actions for every next state), by the wall clock.
    pub support_sampling_s: f64,
    pub support_actions_per_s: f64,
    /// One action for each of `eval_states` states: upload the states, record, submit,
    /// sample and read the actions back; the median and the fastest of the timed calls, with
    /// the sampler evaluation uses (`QIPO_SAMPLER`, by default the one-dispatch sampler on
    /// GPUs and the batched one on CPU drivers).
    pub action_latency_ms: f64,
    pub action_latency_min_ms: f64,
    /// The median with each sampler: the batched one, and the one-dispatch one (null where
    /// the network does not fit it).
    pub action_latency_batched_ms: f64,
    pub action_latency_one_dispatch_ms: Option<f64>,
}

/// Every measurement of one environment's shapes.
#[derive(Debug, Clone, Serialize)]
pub struct EnvResult {
    pub env: String,
    pub obs_dim: usize,
    pub act_dim: usize,
    pub stages: Vec<StageResult>,
    pub sampling: SamplingResult,
}

/// The whole benchmark, serialised as the JSON object `qipo bench train --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub device: String,
    pub gpu_timestamps: bool,
    pub sizes: TrainBenchSizes,
    pub environments: Vec<EnvResult>,
}

/// Random transitions of the given shape: observations ~ U(-3, 3), actions in D4RL's
/// bounds, rewards in [0, 1), 1% terminals, episodes of 1000 steps. Speed does not depend
/// on the values, only on the shapes.
pub fn synthetic_dataset(env: Env, obs_dim: usize, act_dim: usize, len: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize, scale: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-scale..scale)).collect() };
    let observations = uniform(len * obs_dim, 3.0);
    let next_observations = uniform(len * obs_dim, 3.0);
    let actions = uniform(len * act_dim, 1.0);
    let rewards: Vec<f32> = uniform(len, 0.5).iter().map(|r| r + 0.5).collect();
    let terminals = uniform(len, 0.5).iter().map(|u| if *u > 0.49 { 1.0 } else { 0.0 }).collect();
    const EPISODE: usize = 1000;
    let episodes = (0..len)
        .step_by(EPISODE)
        .map(|start| {
            let end = (start + EPISODE).min(len);
            let total_reward = rewards[start..end].iter().map(|&r| r as f64).sum();
            Episode { start, end, steps: end - start, total_reward, ending: EpisodeEnd::Timeout }
        })
        .collect();
    Dataset {
        source: format!("synthetic {} dataset", env.name()).into(),
        format: Format::D4rl,
        env: Some(env),
        id: None,
        eval_env: None,
        references: References::D4rl,
        obs_dim,
        act_dim,
        observations,
        actions,
        rewards,
        next_observations,
        terminals,
        episodes,
        warnings: Vec::new(),
    }
}

/// What one timed submit took.
struct Timing {
    /// Wall clock around submit and wait.
    wall_s: f64,
    /// Between the first and last GPU timestamp, where the adapter has timestamps.
    gpu_s: Option<f64>,
    /// Host time spent recording.
    record_s: f64,
    dispatches: usize,
}

/// Records `warmup` repetitions of `body` into an untimed submit (first-use costs land
/// there), then `reps` repetitions into each of `sizes.timed_submits` timed submits, and
/// returns the submit of median wall-clock time (other work on the machine shows up as
/// outliers, which the median ignores).
fn time_submit(
    gpu: &Gpu,
    sizes: &TrainBenchSizes,
    warmup: usize,
    reps: usize,
    mut body: impl FnMut(&mut Recorder),
) -> Result<Timing> {
    let mut warm = Recorder::new(gpu);
    (0..warmup).for_each(|_| body(&mut warm));
    warm.submit_and_wait()?;

    let mut timings = Vec::new();
    for _ in 0..sizes.timed_submits.max(1) {
        let timer = GpuTimer::new(gpu, 1)?;
        let mut rec = Recorder::new(gpu);
        let recording = Instant::now();
        rec.timed(&timer, 0, |rec| (0..reps).for_each(|_| body(rec)));
        rec.resolve(&timer);
        let record_s = recording.elapsed().as_secs_f64();
        let dispatches = rec.dispatches;
        let start = Instant::now();
        rec.submit_and_wait()?;
        let wall_s = start.elapsed().as_secs_f64();
        let gpu_s = timer.read_ms(gpu)?.first().filter(|&&ms| ms > 0.0).map(|ms| ms / 1e3);
        timings.push(Timing { wall_s, gpu_s, record_s, dispatches });
    }
    timings.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    Ok(timings.swap_remove(timings.len() / 2))
}

/// Policy improvement of `sizes.betas` values of β for every seed, as `qipo sweep` trains
/// them: each seed's policy and critic repeated once per β, all copies in the same dispatches.
fn beta_grid_stage(
    at: StageContext,
    policy: &VelocityNet,
    critic: &TwinCritic,
    config: &PolicyConfig,
    support: &SupportConfig,
    sizes: &TrainBenchSizes,
) -> Result<StageResult> {
    let (seeds, betas) = (sizes.seeds.max(1), sizes.betas);
    let stage = format!("policy improvement, {seeds} seeds × {betas} β");
    let grid_policy = policy.repeat_copies(at.gpu, betas)?;
    let grid_critic = critic.repeat_seeds(at.gpu, betas)?;
    let mut improver = PolicyImprover::new(at, &grid_policy, &grid_policy, &grid_critic, config, support)?;
    // β = 0, 1, 2, … for each seed: the values only change the weights, not the work.
    let copies: Vec<CopySettings> =
        (0..seeds * betas).map(|c| CopySettings { beta: (c % betas) as f64, lr: config.lr }).collect();
    improver.set_copy_settings(at.gpu, &copies)?;
    let mut rec = Recorder::new(at.gpu);
    improver.record_renewal(&mut rec, &grid_policy, &grid_critic);
    rec.submit_and_wait()?;
    time_stage(at.gpu, &stage, sizes, |rec| improver.record_step(rec, &grid_policy))
}

fn time_stage(gpu: &Gpu, stage: &str, sizes: &TrainBenchSizes, body: impl FnMut(&mut Recorder)) -> Result<StageResult> {
    let steps = sizes.steps_per_submit;
    let timing = time_submit(gpu, sizes, sizes.warmup_steps, steps, body)
        .with_context(|| format!("benchmark of {stage} failed"))?;
    let steps_per_s = steps as f64 / timing.wall_s;
    Ok(StageResult {
        stage: stage.to_string(),
        steps,
        steps_per_s,
        gpu_steps_per_s: timing.gpu_s.map(|s| steps as f64 / s),
        seconds_per_100k: 1e5 / steps_per_s,
        record_us_per_step: timing.record_s * 1e6 / steps as f64,
        dispatches_per_step: timing.dispatches as f64 / steps as f64,
    })
}

/// Milliseconds per call of the evaluation path: new states uploaded, one action sampled
/// for each by the Euler sampler (the one-dispatch one with `rows`, where the network fits
/// it), the actions read back. Returns the median and the minimum over `latency_calls` calls
/// after three warm-up calls.
fn action_latency(
    gpu: &Gpu,
    policy: &VelocityNet,
    dataset: &Dataset,
    sizes: &TrainBenchSizes,
    rows: bool,
) -> Result<(f64, f64)> {
    let n = sizes.eval_states.min(dataset.len()).max(1);
    let states_host = &dataset.observations[..n * dataset.obs_dim];
    let states = GpuBuffer::from_slice(gpu, "evaluation states", states_host)?;
    let sampler = ActionSampler::with_choice(gpu, policy, &states, n, sizes.euler_steps, rows)?;
    let mut rng = RngStream::new(6, streams::POLICY_NOISE);
    let mut call = || -> Result<f64> {
        let start = Instant::now();
        states.write(gpu, 0, states_host);
        let mut rec = Recorder::new(gpu);
        sampler.record(&mut rec, policy, n, &mut rng, Some((-1.0, 1.0)));
        rec.submit()?;
        let actions: Vec<f32> = sampler.samples().read_range(gpu, 0, n * policy.spec.dim)?;
        std::hint::black_box(actions);
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    for _ in 0..3 {
        call()?;
    }
    let mut ms = (0..sizes.latency_calls.max(1)).map(|_| call()).collect::<Result<Vec<f64>>>()?;
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[0]))
}

/// Every stage at one environment's shapes, in the order a run meets them.
pub fn bench_env(
    gpu: &Gpu,
    sizes: &TrainBenchSizes,
    (env, obs_dim, act_dim): (Env, usize, usize),
    progress: &mut impl FnMut(&str),
) -> Result<EnvResult> {
    let name = env.name();
    let (batch, m, euler) = (sizes.batch, sizes.support_actions, sizes.euler_steps);
    let ring = sizes.steps_per_submit.max(sizes.warmup_steps);
    let dataset = synthetic_dataset(env, obs_dim, act_dim, sizes.transitions, 1);
    let data = GpuDataset::upload(gpu, &dataset)?;
    let len = data.len;
    let hidden = sizes.hidden_layers();
    let policy_spec = sizes.policy_spec(obs_dim, act_dim);
    let critic_spec = MlpSpec::new(act_dim + obs_dim, &hidden, 1, Activation::Relu);
    let value_spec = MlpSpec::new(obs_dim, &hidden, 1, Activation::Relu);
    let seeds = sizes.seeds.max(1);
    let policy = VelocityNet::for_seeds(gpu, &policy_spec, 1, seeds)?;
    let mut stages = Vec::new();

    progress(&format!("{name}: behaviour pretraining"));
    let zero_energies = GpuBuffer::zeros(gpu, "zero energies", len)?;
    let table = EfmTable { len, points: &data.actions, energies: &zero_energies, cond: Some(&data.observations) };
    let adam = AdamConfig { lr: 1e-4, ..Default::default() };
    let behaviour_batch = sizes.resnet.as_ref().map_or(batch, |r| r.behaviour_batch);
    let efm = EfmConfig { batch: behaviour_batch, beta: 0.0, group: 0, adam };
    let mut behaviour = EfmTrainer::new(gpu, &policy, table, efm, 1, ring)?;
    stages.push(time_stage(gpu, "behaviour pretraining", sizes, |rec| behaviour.record_step(rec, &policy))?);
    drop(behaviour);

    progress(&format!("{name}: support sampling ({} actions)", len * m));
    let next_support = GpuBuffer::zeros(gpu, "next-state support actions", seeds * len * m * act_dim)?;
    let layout = SupportLayout::alone(m);
    // Sampling the whole table takes seconds, minutes for the residual network with seeds: the
    // warm-up (which compiles the pipelines) samples a few states, and one submit is timed.
    let few = len.min(64);
    let warm = SupportSampler::new(gpu, &policy, &data.next_observations, few, &next_support, layout, euler)?;
    let mut rng = RngStream::new(2, streams::SUPPORT);
    time_submit(gpu, &sizes.timed_once(), 1, 0, |rec| warm.record_all(rec, &policy, &mut rng))?;
    drop(warm);
    let sampler = SupportSampler::new(gpu, &policy, &data.next_observations, len, &next_support, layout, euler)?;
    let support = time_submit(gpu, &sizes.timed_once(), 0, 1, |rec| sampler.record_all(rec, &policy, &mut rng))?;
    let support_actions = seeds * len * m;
    drop(sampler);

    for (kind, stage) in [(CriticKind::Softmax, "critic (softmax)"), (CriticKind::Iql, "critic (IQL)")] {
        progress(&format!("{name}: {stage}"));
        let critic = TwinCritic::for_seeds(gpu, &critic_spec, 3, seeds)?;
        let value = match kind {
            CriticKind::Iql => {
                let params: Vec<Vec<f32>> = (0..seeds as u64).map(|c| value_spec.init_params(4 + c)).collect();
                let refs: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
                Some(Mlp::copies_from_params(gpu, &value_spec, &refs)?)
            }
            CriticKind::Softmax => None,
        };
        let config = CriticConfig { kind, batch, ..Default::default() };
        let at = StageContext { gpu, data: &data, seed: 3, ring_len: ring };
        let mut trainer = CriticTrainer::new(at, &next_support, m, &critic, value, &config)?;
        stages.push(time_stage(gpu, stage, sizes, |rec| trainer.record_step(rec, &critic))?);
    }

    progress(&format!("{name}: renewal and policy improvement"));
    let critic = TwinCritic::for_seeds(gpu, &critic_spec, 5, seeds)?;
    let config = PolicyConfig { batch, ..Default::default() };
    let at = StageContext { gpu, data: &data, seed: 5, ring_len: ring };
    let support_config = SupportConfig { actions: m, euler_steps: euler };
    let mut improver = PolicyImprover::new(at, &policy, &policy, &critic, &config, &support_config)?;
    // The sampling above compiled most of its pipelines; one renewal, timed once.
    let renewal = time_submit(gpu, &sizes.timed_once(), 0, 1, |rec| improver.record_renewal(rec, &policy, &critic))?;
    stages.push(time_stage(gpu, "policy improvement", sizes, |rec| improver.record_step(rec, &policy))?);
    drop(improver);
    if sizes.betas > 1 {
        progress(&format!("{name}: policy improvement, {seeds} seeds × {} β", sizes.betas));
        stages.push(beta_grid_stage(at, &policy, &critic, &config, &support_config, sizes)?);
    }

    progress(&format!("{name}: one action for each of {} states", sizes.eval_states));
    let batched = action_latency(gpu, &policy, &dataset, sizes, false)?;
    let one_dispatch =
        RowSampler::fits(&policy).then(|| action_latency(gpu, &policy, &dataset, sizes, true)).transpose()?;
    let (action_latency_ms, action_latency_min_ms) = match one_dispatch {
        Some(latency) if ActionSampler::prefers_rows(gpu)? => latency,
        _ => batched,
    };

    Ok(EnvResult {
        env: name.to_string(),
        obs_dim,
        act_dim,
        stages,
        sampling: SamplingResult {
            renewal_s: renewal.wall_s,
            renewal_gpu_s: renewal.gpu_s,
            renewal_dispatches: renewal.dispatches,
            support_sampling_s: support.wall_s,
            support_actions_per_s: support_actions as f64 / support.wall_s,
            action_latency_ms,
            action_latency_min_ms,
            action_latency_batched_ms: batched.0,
            action_latency_one_dispatch_ms: one_dispatch.map(|l| l.0),
        },
    })
}

/// Every environment of [`ENVIRONMENTS`]; `progress` hears what is being measured.
pub fn run(gpu: &Gpu, sizes: &TrainBenchSizes, mut progress: impl FnMut(&str)) -> Result<TrainBench> {
    // CPU drivers run the paper-sized layers at a few GFLOP/s: say so before hours pass.
    if gpu.info.device_type == wgpu::DeviceType::Cpu && sizes.hidden >= TrainBenchSizes::paper().hidden {
        progress("a CPU driver takes hours at the paper's sizes; --quick finishes in under a minute");
    }
    let environments =
        ENVIRONMENTS.iter().map(|&env| bench_env(gpu, sizes, env, &mut progress)).collect::<Result<_>>()?;
    Ok(TrainBench { device: gpu.describe(), gpu_timestamps: gpu.has_timestamps, sizes: sizes.clone(), environments })
}

/// Seconds in the unit that keeps them readable.
pub(crate) fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 1.0 => format!("{:.0} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

fn optional(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_string(), show)
}

/// The results as text: the sizes, then one block per environment.
pub fn format_table(results: &TrainBench) -> String {
    let s = &results.sizes;
    let mut out = format!("QIPO training stages on {}\n", results.device);
    out += &format!(
        "{}; median of {} submits of {} steps each, after {} warm-up steps\n",
        s.describe(),
        s.timed_submits,
        s.steps_per_submit,
        s.warmup_steps
    );
    for env in &results.environments {
        out += &format!("\n{} (observations {}, actions {})\n", env.env, env.obs_dim, env.act_dim);
        let w = env.stages.iter().map(|r| r.stage.chars().count()).max().unwrap_or(0).max(22);
        out += &format!(
            "  {:<w$} {:>9} {:>13} {:>16} {:>16} {:>17}\n",
            "stage", "steps/s", "GPU steps/s", "per 100k steps", "record µs/step", "dispatches/step"
        );
        for r in &env.stages {
            out += &format!(
                "  {:<w$} {:>9.1} {:>13} {:>16} {:>16.1} {:>17.0}\n",
                r.stage,
                r.steps_per_s,
                optional(r.gpu_steps_per_s, |v| format!("{v:.1}")),
                duration(r.seconds_per_100k),
                r.record_us_per_step,
                r.dispatches_per_step
            );
        }
        let p = &env.sampling;
        out += &format!(
            "  renewal ({} states × {} actions, Q, weights): {} (GPU {}), {} dispatches\n",
            s.transitions,
            s.support_actions,
            duration(p.renewal_s),
            optional(p.renewal_gpu_s, duration),
            p.renewal_dispatches
        );
        out += &format!(
            "  support sampling: {:.0} actions/s ({} actions in {})\n",
            p.support_actions_per_s,
            s.seeds.max(1) * s.transitions * s.support_actions,
            duration(p.support_sampling_s)
        );
        out += &format!(
            "  one action for each of {} states{}: {:.2} ms median, {:.2} ms fastest of {} calls \
             (batched sampler {:.2} ms, one-dispatch sampler {})\n",
            s.eval_states,
            if s.seeds > 1 { format!(" and each of {} seeds", s.seeds) } else { String::new() },
            p.action_latency_ms,
            p.action_latency_min_ms,
            s.latency_calls,
            p.action_latency_batched_ms,
            optional(p.action_latency_one_dispatch_ms, |ms| format!("{ms:.2} ms")),
        );
    }
    let clock = if results.gpu_timestamps { "GPU timestamps" } else { "none: the adapter has no timestamps" };
    out += &format!(
        "\nsteps/s: wall clock around submit and wait; GPU steps/s: {clock}; record: host time to record a step \
         (not in steps/s). Renewal and support sampling: one timed submit each. Latency: upload the \
         states, record, submit, sample, read the actions back.\n"
    );
    out
}
