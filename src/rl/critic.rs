//! The critic of QIPO: a twin Q network with Polyak-averaged targets, trained either by
//! QGPO's in-support softmax Q-learning (ALGORITHM.md section 4, stage 3) or, behind
//! `critic.kind = "iql"`, by IQL's expectile regression.
//!
//! Softmax Q-learning, per step:
//!     y = r + γ(1 - d) · Σ_j softmax_j(α·Q'(s', a'_j)) · Q'(s', a'_j),   Q' = min of target heads
//! over the M support actions a'_j of s' drawn from the behaviour policy (kept on the GPU),
//! and both heads regress onto y. IQL instead fits V(s) to the τ-expectile of min Q'(s, a)
//! and regresses both heads onto r + γ(1 - d)·V(s').
//!
//! Several seeds train together: the critic then holds each seed's twin heads (copies 2c and
//! 2c + 1 of one MLP), and every step runs all seeds on their own minibatches in the same
//! matrix and Adam (with Polyak) dispatches.

use anyhow::Result;

pub use super::critic_stat::CriticStat;
use super::diagnostics::critic_probe;
use super::driver::{column_mean, read_ring, StageContext, StageTrainer};
use super::metrics::CriticMetrics;
use super::snapshot::{load_adam_seeds, load_mlp_seeds, load_rng, save_adam_seeds, save_mlp_seeds, save_rng};
use crate::data::{GpuDataset, MinibatchSampler};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::Adam;
use crate::kernels::critic::{Expectile, NextValues, TdTarget};
use crate::kernels::gather::GatherTable;
use crate::kernels::loss::{SquaredError, TwinRegressionStats};
use crate::kernels::time_embedding::{EmbeddingOffsets, EmbeddingShape, TimeEmbedding};
use crate::nn::{CopyInput, Mlp, MlpPass, MlpSpec};
use crate::ops::AdamConfig;
use crate::random::offset_seed;
use crate::rl::config::{CriticConfig, CriticKind};
use crate::run::Checkpoint;

/// Rows [a, s] for a critic, built by the embedding kernel with no time features: each
/// state row feeds `repeat` consecutive action rows.
pub struct StateActionInput {
    embed: TimeEmbedding,
    shape: EmbeddingShape,
    pub rows: GpuBuffer,
}

impl StateActionInput {
    pub fn new(
        gpu: &Gpu,
        actions: &GpuBuffer,
        states: &GpuBuffer,
        dims: (usize, usize),
        capacity: usize,
        repeat: usize,
    ) -> Result<Self> {
        let (act_dim, obs_dim) = dims;
        let shape = EmbeddingShape::new(act_dim, 0, obs_dim, repeat)?;
        let rows = GpuBuffer::zeros(gpu, "critic input", capacity * shape.width())?;
        // With no time features the t and frequency bindings are never read.
        let embed = TimeEmbedding::new(gpu, actions, actions, actions, states, &rows)?;
        Ok(Self { embed, shape, rows })
    }

    /// Records `rows` input rows from actions starting at row `action_row` and states at
    /// row `state_row`.
    pub fn record(&self, rec: &mut Recorder, rows: usize, action_row: usize, state_row: usize) {
        self.record_at(rec, rows, action_row, state_row, 0);
    }

    /// [`Self::record`] into the input rows from row `out_row` on.
    pub fn record_at(&self, rec: &mut Recorder, rows: usize, action_row: usize, state_row: usize, out_row: usize) {
        let offsets = EmbeddingOffsets {
            x: action_row * self.shape.x_dim,
            cond: state_row * self.shape.cond_dim,
            out: out_row * self.shape.width(),
            ..Default::default()
        };
        self.embed.record(rec, &self.shape, rows, offsets);
    }
}

/// Two Q networks Q(a, s) and their targets, for one seed or several. The heads are copies
/// of one MLP (seed c's Q1 and Q2 are copies 2c and 2c + 1), so all of them run in the same
/// dispatches, and one Adam step updates them all and moves all the targets (Polyak).
pub struct TwinCritic {
    pub spec: MlpSpec,
    /// Q1 and Q2 of every seed.
    pub online: Mlp,
    /// Their Polyak averages, likewise.
    pub target: Mlp,
    pub seeds: usize,
}

/// Checkpoint names of the online heads and of the target heads.
pub const ONLINE_HEADS: [&str; 2] = ["q1", "q2"];
pub const TARGET_HEADS: [&str; 2] = ["q1_target", "q2_target"];
/// Checkpoint name of IQL's value network.
const VALUE: &str = "value";

/// The initialisation seed of network `k` of a critic trained from `seed` (the heads 0 and 1,
/// IQL's value network 2): far apart, so no two seeds of a multi-seed run share one.
pub fn network_seed(seed: u64, k: u64) -> u64 {
    offset_seed(seed, k)
}

impl TwinCritic {
    /// Fresh heads from `seed` (each its own initialisation); targets start as copies.
    pub fn new(gpu: &Gpu, spec: &MlpSpec, seed: u64) -> Result<Self> {
        Self::for_seeds(gpu, spec, seed, 1)
    }

    /// The critics of `seeds` seeds, seed c's exactly what [`Self::new`] makes from seed + c.
    pub fn for_seeds(gpu: &Gpu, spec: &MlpSpec, seed: u64, seeds: usize) -> Result<Self> {
        let params: Vec<Vec<f32>> = (0..seeds as u64)
            .flat_map(|c| [0, 1].map(|head| spec.init_params(network_seed(seed.wrapping_add(c), head))))
            .collect();
        Self::from_params(gpu, spec, &params, &params)
    }

    /// Heads given seed by seed: Q1 and Q2 of seed 0, then of seed 1, and so on.
    pub fn from_params(gpu: &Gpu, spec: &MlpSpec, online: &[Vec<f32>], target: &[Vec<f32>]) -> Result<Self> {
        anyhow::ensure!(
            !online.is_empty() && online.len().is_multiple_of(2) && online.len() == target.len(),
            "a twin critic needs two heads and two targets per seed"
        );
        fn refs(heads: &[Vec<f32>]) -> Vec<&[f32]> {
            heads.iter().map(Vec::as_slice).collect()
        }
        Ok(Self {
            spec: spec.clone(),
            online: Mlp::copies_from_params(gpu, spec, &refs(online))?,
            target: Mlp::copies_from_params(gpu, spec, &refs(target))?,
            seeds: online.len() / 2,
        })
    }

    /// A critic of `times` consecutive copies of each seed's heads and targets: the critic a
    /// grid of `times` settings per seed weighs its actions with, each its seed's.
    pub fn repeat_seeds(&self, gpu: &Gpu, times: usize) -> Result<Self> {
        let n = self.spec.param_count();
        let repeated = |mlp: &Mlp| -> Result<Vec<Vec<f32>>> {
            let params: Vec<f32> = mlp.params.read(gpu)?;
            let heads: Vec<&[f32]> = params.chunks(n).collect();
            Ok(heads
                .chunks(2)
                .flat_map(|twin| std::iter::repeat_n(twin, times))
                .flat_map(|twin| twin.iter().map(|head| head.to_vec()))
                .collect())
        };
        Self::from_params(gpu, &self.spec, &repeated(&self.online)?, &repeated(&self.target)?)
    }

    /// Both heads and their targets into each seed's checkpoint.
    pub fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint]) -> Result<()> {
        save_mlp_seeds(ckpts, gpu, &ONLINE_HEADS, &self.online)?;
        save_mlp_seeds(ckpts, gpu, &TARGET_HEADS, &self.target)
    }

    /// The heads and targets [`Self::save`] wrote.
    pub fn load(&self, gpu: &Gpu, ckpts: &[Checkpoint]) -> Result<()> {
        load_mlp_seeds(ckpts, gpu, &ONLINE_HEADS, &self.online)?;
        load_mlp_seeds(ckpts, gpu, &TARGET_HEADS, &self.target)
    }
}

/// IQL's value networks V(s) for a critic trained from `seed`, a copy per seed, each
/// initialised as network 2 of its seed's critic (see [`network_seed`]).
pub fn value_networks(gpu: &Gpu, spec: &MlpSpec, seed: u64, seeds: usize) -> Result<Mlp> {
    let params: Vec<Vec<f32>> =
        (0..seeds as u64).map(|c| spec.init_params(network_seed(seed.wrapping_add(c), 2))).collect();
    let refs: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    Mlp::copies_from_params(gpu, spec, &refs)
}

/// Where statistic `stat` of seed `seed` lies in a slot of the stats ring of
/// [`stats_width`] values: each head's loss, then each head's mean Q (of which `q_mean` is
/// Q1's; the loss kernel writes both heads'), both seed by seed, then the target and value
/// statistics.
pub fn stat_index(stat: CriticStat, seeds: usize, seed: usize) -> usize {
    match stat {
        CriticStat::Q1Loss | CriticStat::Q2Loss => 2 * seed + stat.index(),
        CriticStat::QMean => 2 * seeds + 2 * seed,
        other => (other.index() + 1) * seeds + seed,
    }
}

/// Values per slot of the stats ring for `seeds` seeds.
pub fn stats_width(seeds: usize) -> usize {
    (CriticStat::ALL.len() + 1) * seeds
}

/// What only IQL needs: the value network, its passes on s and s', and its loss.
struct IqlParts {
    value: Mlp,
    value_pass: MlpPass,
    next_value_pass: MlpPass,
    expectile: Expectile,
    value_adam: Adam,
}

/// One critic training step, bound once to a dataset, its next-state support actions and
/// the networks.
pub struct CriticTrainer {
    pub config: CriticConfig,
    pub sampler: MinibatchSampler,
    /// Per-step statistics, [`stats_width`] values per slot (see [`stat_index`]).
    pub stats: GpuBuffer,
    /// One optimiser for both heads, acting as one per head; each step also moves the
    /// targets towards the heads (Polyak averaging).
    pub adam: Adam,
    ring_len: usize,
    steps: u64,
    /// Support actions per next state.
    support: usize,
    seeds: usize,
    target_input: StateActionInput,
    /// Both target heads on the target rows, and both online heads on the minibatch.
    target_pass: MlpPass,
    online_input: StateActionInput,
    online_pass: MlpPass,
    td: TdTarget,
    loss: SquaredError,
    iql: Option<IqlParts>,
}

impl CriticTrainer {
    /// `next_support` holds M actions for every next state (len×M×act_dim), drawn from the
    /// behaviour policy, a table per seed; `value` is IQL's value network, a copy per seed
    /// (ignored by the softmax critic).
    pub fn new(
        at: StageContext,
        next_support: &GpuBuffer,
        support: usize,
        critic: &TwinCritic,
        value: Option<Mlp>,
        config: &CriticConfig,
    ) -> Result<Self> {
        let StageContext { gpu, data, seed, ring_len } = at;
        let (batch, seeds) = (config.batch, critic.seeds);
        let (obs, act) = (data.obs_dim, data.act_dim);
        let rows = seeds * batch;
        // The softmax critic's support actions of each next state come with the minibatch.
        let support_batch = GpuBuffer::zeros(gpu, "next-state support batch", rows * support * act)?;
        let support_table =
            GatherTable { src: next_support, out: &support_batch, width: support * act, per_copy: true };
        let extra = (config.kind == CriticKind::Softmax).then_some(support_table);
        let sampler = MinibatchSampler::with_extra_table(gpu, data, batch, seed, seeds, extra)?;
        let b = &sampler.batch;
        let adam_config = AdamConfig { lr: config.lr, ..Default::default() };
        let target_input =
            StateActionInput::new(gpu, &support_batch, &b.next_observations, (act, obs), rows * support, support)?;
        let online_input = StateActionInput::new(gpu, &b.actions, &b.observations, (act, obs), rows, 1)?;
        // Each seed's two heads read that seed's rows.
        let pass = |mlp: &Mlp, input: &GpuBuffer, rows: usize, train: bool| {
            MlpPass::with_input(gpu, mlp, input, rows, train, CopyInput::PerGroup(2))
        };
        // Softmax: target heads on every support action of s'; IQL: on the dataset's (s, a).
        let (target_rows, target_capacity) = match config.kind {
            CriticKind::Softmax => (&target_input.rows, batch * support),
            CriticKind::Iql => (&online_input.rows, batch),
        };
        let target_pass = pass(&critic.target, target_rows, target_capacity, false)?;
        let online_pass = pass(&critic.online, &online_input.rows, batch, true)?;

        // Every seed's y, then every seed's soft value v, a batch each.
        let targets = GpuBuffer::zeros(gpu, "TD targets", 2 * rows)?;
        let stats = GpuBuffer::zeros(gpu, "critic stats", ring_len * stats_width(seeds))?;
        let grad = online_pass.output_grad().expect("training pass");
        let loss = SquaredError::new(gpu, online_pass.output(), &targets, None, grad, &stats)?;

        let iql = match (config.kind, value) {
            (CriticKind::Iql, Some(value)) => {
                anyhow::ensure!(value.copies == seeds, "{} value networks for {seeds} seeds", value.copies);
                let per_seed = CopyInput::PerCopy;
                let value_pass = MlpPass::with_input(gpu, &value, &b.observations, batch, true, per_seed)?;
                let next_value_pass = MlpPass::with_input(gpu, &value, &b.next_observations, batch, false, per_seed)?;
                let value_grad = value_pass.output_grad().expect("training pass");
                Some(IqlParts {
                    expectile: Expectile::new(gpu, value_pass.output(), target_pass.output(), value_grad, &stats)?,
                    value_adam: Adam::for_copies(gpu, &value.params, &value.grads, adam_config, seeds)?,
                    value_pass,
                    next_value_pass,
                    value,
                })
            }
            (CriticKind::Iql, None) => anyhow::bail!("the IQL critic needs a value network"),
            _ => None,
        };
        // Softmax: soft values of the target heads over the support; IQL: V(s') as a support of one.
        let td = match &iql {
            None => {
                let q = target_pass.output();
                TdTarget::new(gpu, q, Some(q), &b.rewards, &b.dones, &targets)?
            }
            Some(parts) => {
                let v = parts.next_value_pass.output();
                TdTarget::new(gpu, v, Some(v), &b.rewards, &b.dones, &targets)?
            }
        };
        Ok(Self {
            config: config.clone(),
            stats,
            adam: Adam::for_copies(gpu, &critic.online.params, &critic.online.grads, adam_config, 2 * seeds)?
                .with_polyak_target(gpu, &critic.target.params, config.tau as f32)?,
            ring_len,
            steps: 0,
            support,
            seeds,
            td,
            loss,
            target_input,
            target_pass,
            online_input,
            online_pass,
            iql,
            sampler,
        })
    }
}

impl CriticTrainer {
    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records one critic step; its statistics go to slot `steps % ring_len` of `stats`.
    pub fn record_step(&mut self, rec: &mut Recorder, critic: &TwinCritic) {
        let (batch, seeds, support) = (self.config.batch, self.seeds, self.support);
        let rows = seeds * batch;
        let slot = (self.steps % self.ring_len as u64) as usize * stats_width(seeds);
        let stat = |k: CriticStat, seed: usize| slot + stat_index(k, seeds, seed);
        self.sampler.record(rec);
        self.online_input.record(rec, rows, 0, 0);
        // What the TD target bootstraps from.
        let next = match &mut self.iql {
            None => {
                // Softmax: the target heads' soft value over the support actions of s'.
                self.target_input.record(rec, rows * support, 0, 0);
                self.target_pass.record_forward(rec, &critic.target, batch * support);
                NextValues::TwinHeads { heads: self.target_pass.twin_heads(batch * support), support }
            }
            Some(iql) => {
                // IQL: V(s) → τ-expectile of min Q'(s, a) on the dataset actions; as in IQL, V
                // is updated first and the Q target bootstraps from the new V(s').
                self.target_pass.record_forward(rec, &critic.target, batch);
                iql.value_pass.record_forward(rec, &iql.value, batch);
                let heads = self.target_pass.twin_heads(batch);
                let tau = self.config.expectile as f32;
                iql.expectile.record_seeds(rec, seeds, heads, stat(CriticStat::ValueLoss, 0), tau);
                iql.value_pass.record_backward(rec, &iql.value, batch, false);
                iql.value_adam.record_step(rec);
                iql.next_value_pass.record_forward(rec, &iql.value, batch);
                NextValues::Values
            }
        };
        let (alpha, gamma) = (self.config.alpha_q as f32, self.config.gamma as f32);
        self.td.record_seeds(rec, seeds, batch, next, alpha, gamma);
        // Both heads of a seed regress onto its y; each head's loss and mean Q, and each seed's
        // mean target, go straight to the stats slot.
        self.online_pass.record_forward(rec, &critic.online, batch);
        let stats = TwinRegressionStats {
            loss_at: stat(CriticStat::Q1Loss, 0),
            prediction_at: stat(CriticStat::QMean, 0),
            target_at: stat(CriticStat::TargetMean, 0),
        };
        self.loss.record_twin_heads(rec, seeds, self.online_pass.twin_heads(batch), stats);
        self.online_pass.record_backward(rec, &critic.online, batch, false);
        self.adam.record_step(rec);
        self.steps += 1;
    }

    /// IQL's value network and its optimiser, when the critic is IQL.
    pub fn value_parts(&mut self) -> Option<(&Mlp, &mut Adam)> {
        self.iql.as_mut().map(|p| (&p.value, &mut p.value_adam))
    }

    /// [`Self::value_parts`], to read.
    pub fn value(&self) -> Option<(&Mlp, &Adam)> {
        self.iql.as_ref().map(|p| (&p.value, &p.value_adam))
    }
}

/// The critic stage as the driver runs it: the twin critic of every seed and its trainer.
pub struct CriticTraining<'a> {
    pub critic: TwinCritic,
    trainer: CriticTrainer,
    /// Where the finished critic is probed.
    data: &'a GpuDataset,
}

impl<'a> CriticTraining<'a> {
    /// Trains `critic` (and, for IQL, `value`) on `data`, bootstrapping the softmax critic
    /// from `next_support`, `support` actions per next state; `ring_len` steps' statistics
    /// are kept between reads.
    pub fn new(
        at: StageContext<'a>,
        next_support: &GpuBuffer,
        support: usize,
        critic: TwinCritic,
        value: Option<Mlp>,
        config: &CriticConfig,
    ) -> Result<Self> {
        let trainer = CriticTrainer::new(at, next_support, support, &critic, value, config)?;
        Ok(Self { critic, trainer, data: at.data })
    }
}

impl StageTrainer for CriticTraining<'_> {
    type Metrics = CriticMetrics;

    fn record_step(&mut self, rec: &mut Recorder) {
        self.trainer.record_step(rec, &self.critic);
    }

    fn read_metrics(&self, gpu: &Gpu, steps: usize) -> Result<Vec<CriticMetrics>> {
        let seeds = self.critic.seeds;
        let width = stats_width(seeds);
        let stats = read_ring(gpu, &self.trainer.stats, self.trainer.steps(), steps, width)?;
        let mean = |stat: CriticStat, seed: usize| column_mean(&stats, width, stat_index(stat, seeds, seed));
        let iql = self.trainer.config.kind == CriticKind::Iql;
        Ok((0..seeds)
            .map(|c| CriticMetrics {
                q1_loss: mean(CriticStat::Q1Loss, c),
                q2_loss: mean(CriticStat::Q2Loss, c),
                q_mean: mean(CriticStat::QMean, c),
                target_mean: mean(CriticStat::TargetMean, c),
                value_loss: iql.then(|| mean(CriticStat::ValueLoss, c)),
                probe: None,
            })
            .collect())
    }

    fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint]) -> Result<()> {
        self.critic.save(gpu, ckpts)?;
        save_adam_seeds(ckpts, gpu, &ONLINE_HEADS, &self.trainer.adam, self.critic.spec.param_count())?;
        save_rng(ckpts, "minibatch", &self.trainer.sampler.rng);
        if let Some((value, adam)) = self.trainer.value() {
            save_mlp_seeds(ckpts, gpu, &[VALUE], value)?;
            save_adam_seeds(ckpts, gpu, &[VALUE], adam, value.spec.param_count())?;
        }
        Ok(())
    }

    fn load(&mut self, gpu: &Gpu, ckpts: &[Checkpoint]) -> Result<()> {
        self.critic.load(gpu, ckpts)?;
        load_adam_seeds(ckpts, gpu, &ONLINE_HEADS, &mut self.trainer.adam, self.critic.spec.param_count())?;
        load_rng(ckpts, "minibatch", &mut self.trainer.sampler.rng)?;
        if let Some((value, adam)) = self.trainer.value_parts() {
            load_mlp_seeds(ckpts, gpu, &[VALUE], value)?;
            load_adam_seeds(ckpts, gpu, &[VALUE], adam, value.spec.param_count())?;
        }
        Ok(())
    }

    /// How the finished critic rates actions off the data against the data's own.
    fn measure_end(&self, gpu: &Gpu, metrics: &mut [CriticMetrics]) -> Result<()> {
        for (m, probe) in metrics.iter_mut().zip(critic_probe(gpu, &self.critic, self.data)?) {
            m.probe = Some(probe);
        }
        Ok(())
    }
}
