//! The critic of QIPO: a twin Q network with Polyak-averaged targets, trained either by
//! QGPO's in-support softmax Q-learning (ALGORITHM.md section 4, stage 3) or, behind
//! `critic.kind = "iql"`, by IQL's expectile regression.
//!
//! Softmax Q-learning, per step:
//!     y = r + γ(1 - d) · Σ_j softmax_j(α·Q'(s', a'_j)) · Q'(s', a'_j),   Q' = min of target heads
//! over the M support actions a'_j of s' drawn from the behaviour policy (kept on the GPU),
//! and both heads regress onto y. IQL instead fits V(s) to the τ-expectile of min Q'(s, a)
//! and regresses both heads onto r + γ(1 - d)·V(s').

use anyhow::Result;

use crate::data::{GpuDataset, MinibatchSampler};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::{Adam, AdamConfig};
use crate::kernels::critic::{Expectile, Polyak, TdTarget, TdTargetParams};
use crate::kernels::gather::Gather;
use crate::kernels::loss::{SquaredError, SquaredErrorParams};
use crate::kernels::reduce::{Reduce, ReduceOp};
use crate::kernels::rows::{Minimum, MinimumParams};
use crate::kernels::time_embedding::{EmbeddingOffsets, EmbeddingShape, TimeEmbedding};
use crate::nn::{Mlp, MlpPass, MlpSpec};
use crate::rl::config::{CriticConfig, CriticKind};

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
        let offsets = EmbeddingOffsets {
            x: action_row * self.shape.x_dim,
            cond: state_row * self.shape.cond_dim,
            ..Default::default()
        };
        self.embed.record(rec, &self.shape, rows, offsets);
    }
}

/// Two Q networks Q(a, s) and their targets. The heads are the two copies of one MLP, so
/// both run in the same dispatches, one Adam step updates both and one Polyak step both
/// targets.
pub struct TwinCritic {
    pub spec: MlpSpec,
    /// Q1 and Q2, copies 0 and 1.
    pub online: Mlp,
    /// Their Polyak averages, likewise.
    pub target: Mlp,
}

/// Checkpoint names of the online heads and of the target heads.
pub const ONLINE_HEADS: [&str; 2] = ["q1", "q2"];
pub const TARGET_HEADS: [&str; 2] = ["q1_target", "q2_target"];

impl TwinCritic {
    /// Fresh heads from `seed` (each its own initialisation); targets start as copies.
    pub fn new(gpu: &Gpu, spec: &MlpSpec, seed: u64) -> Result<Self> {
        let params = [spec.init_params(seed), spec.init_params(seed.wrapping_add(1))];
        Self::from_params(gpu, spec, &params, &params)
    }

    pub fn from_params(gpu: &Gpu, spec: &MlpSpec, online: &[Vec<f32>; 2], target: &[Vec<f32>; 2]) -> Result<Self> {
        Ok(Self {
            spec: spec.clone(),
            online: Mlp::copies_from_params(gpu, spec, &[&online[0], &online[1]])?,
            target: Mlp::copies_from_params(gpu, spec, &[&target[0], &target[1]])?,
        })
    }
}

/// The statistics each critic step writes, in this order, into its slot of the stats ring.
pub const CRITIC_STATS: [&str; 5] = ["q1_loss", "q2_loss", "q_mean", "target_mean", "value_loss"];

/// What only IQL needs: the value network, its passes on s and s', and its loss.
struct IqlParts {
    value: Mlp,
    value_pass: MlpPass,
    next_value_pass: MlpPass,
    min_q: Minimum,
    expectile: Expectile,
    value_adam: Adam,
    value_loss_sum: Reduce,
    _buffers: Vec<GpuBuffer>,
}

/// One critic training step, bound once to a dataset, its next-state support actions and
/// the networks.
pub struct CriticTrainer {
    pub config: CriticConfig,
    pub sampler: MinibatchSampler,
    /// Per-step statistics, `CRITIC_STATS.len()` values per slot.
    pub stats: GpuBuffer,
    /// One optimiser for both heads, acting as one per head.
    pub adam: Adam,
    ring_len: usize,
    steps: u64,
    /// Support actions per next state.
    support: usize,
    gather_support: Gather,
    target_input: StateActionInput,
    /// Both target heads on the target rows, and both online heads on the minibatch.
    target_pass: MlpPass,
    online_input: StateActionInput,
    online_pass: MlpPass,
    td: TdTarget,
    loss: SquaredError,
    loss_sum: Reduce,
    q_mean: Reduce,
    y_mean: Reduce,
    polyak: Polyak,
    iql: Option<IqlParts>,
    _buffers: Vec<GpuBuffer>,
}

impl CriticTrainer {
    /// `next_support` holds M actions for every next state (len×M×act_dim), drawn from the
    /// behaviour policy; `value` is IQL's value network (ignored by the softmax critic).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        data: &GpuDataset,
        next_support: &GpuBuffer,
        support: usize,
        critic: &TwinCritic,
        value: Option<Mlp>,
        config: &CriticConfig,
        seed: u64,
        ring_len: usize,
    ) -> Result<Self> {
        let batch = config.batch;
        let (obs, act) = (data.obs_dim, data.act_dim);
        let sampler = MinibatchSampler::new(gpu, data, batch, seed)?;
        let b = &sampler.batch;
        let adam_config = AdamConfig { lr: config.lr, ..Default::default() };

        let support_batch = GpuBuffer::zeros(gpu, "next-state support batch", batch * support * act)?;
        let gather_support = Gather::new(gpu, &b.indices, next_support, &support_batch)?;
        let target_input =
            StateActionInput::new(gpu, &support_batch, &b.next_observations, (act, obs), batch * support, support)?;
        let online_input = StateActionInput::new(gpu, &b.actions, &b.observations, (act, obs), batch, 1)?;
        let pass = |mlp: &Mlp, input: &GpuBuffer, rows: usize, train: bool| MlpPass::new(gpu, mlp, input, rows, train);
        // Softmax: target heads on every support action of s'; IQL: on the dataset's (s, a).
        let (target_rows, target_capacity) = match config.kind {
            CriticKind::Softmax => (&target_input.rows, batch * support),
            CriticKind::Iql => (&online_input.rows, batch),
        };
        let target_pass = pass(&critic.target, target_rows, target_capacity, false)?;
        let online_pass = pass(&critic.online, &online_input.rows, batch, true)?;

        // y in [0, batch), the soft value v in [batch, 2·batch).
        let targets = GpuBuffer::zeros(gpu, "TD targets", 2 * batch)?;
        let stats = GpuBuffer::zeros(gpu, "critic stats", ring_len * CRITIC_STATS.len())?;
        // Q1's per-row losses, then Q2's.
        let loss_rows = GpuBuffer::zeros(gpu, "critic loss rows", 2 * batch)?;
        let grad = online_pass.output_grad().expect("training pass");
        let loss = SquaredError::new(gpu, online_pass.output(), &targets, None, grad, &loss_rows)?;

        let iql = match (config.kind, value) {
            (CriticKind::Iql, Some(value)) => {
                let min_q = GpuBuffer::zeros(gpu, "min target Q", batch)?;
                let next_value_rows = GpuBuffer::zeros(gpu, "value loss rows", batch)?;
                let value_pass = MlpPass::new(gpu, &value, &b.observations, batch, true)?;
                let next_value_pass = MlpPass::new(gpu, &value, &b.next_observations, batch, false)?;
                let value_grad = value_pass.output_grad().expect("training pass");
                Some(IqlParts {
                    min_q: Minimum::new(gpu, target_pass.output(), target_pass.output(), &min_q)?,
                    expectile: Expectile::new(gpu, value_pass.output(), &min_q, value_grad, &next_value_rows)?,
                    value_adam: Adam::new(gpu, &value.params, &value.grads, adam_config)?,
                    value_loss_sum: Reduce::new(gpu, &next_value_rows, &stats)?,
                    value_pass,
                    next_value_pass,
                    value,
                    _buffers: vec![min_q, next_value_rows],
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
            stats: stats.clone(),
            adam: Adam::for_copies(gpu, &critic.online.params, &critic.online.grads, adam_config, 2)?,
            ring_len,
            steps: 0,
            support,
            gather_support,
            loss_sum: Reduce::new(gpu, &loss_rows, &stats)?,
            q_mean: Reduce::new(gpu, online_pass.output(), &stats)?,
            y_mean: Reduce::new(gpu, &targets, &stats)?,
            polyak: Polyak::new(gpu, &critic.online.params, &critic.target.params)?,
            td,
            loss,
            target_input,
            target_pass,
            online_input,
            online_pass,
            iql,
            sampler,
            _buffers: vec![support_batch, targets, loss_rows, stats],
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
        let batch = self.config.batch;
        let act = self.sampler.batch.actions.len / batch;
        let slot = (self.steps % self.ring_len as u64) as usize * CRITIC_STATS.len();
        self.sampler.record(rec);
        self.online_input.record(rec, batch, 0, 0);
        let mut td = TdTargetParams {
            batch: batch as u32,
            q2_off: self.target_pass.output_offset(1) as u32,
            q_stride: 1,
            value_off: batch as u32,
            has_value: 1,
            alpha: self.config.alpha_q as f32,
            gamma: self.config.gamma as f32,
            ..Default::default()
        };
        match &mut self.iql {
            None => {
                let support = self.support;
                self.gather_support.record(rec, batch, support * act);
                self.target_input.record(rec, batch * support, 0, 0);
                self.target_pass.record_forward(rec, &critic.target, batch * support);
                td.support = support as u32;
            }
            Some(iql) => {
                // V(s) → τ-expectile of min Q'(s, a), on the dataset actions.
                self.target_pass.record_forward(rec, &critic.target, batch);
                let heads = MinimumParams {
                    count: batch as u32,
                    b_off: self.target_pass.output_offset(1) as u32,
                    ..Default::default()
                };
                iql.min_q.record_with(rec, heads);
                iql.value_pass.record_forward(rec, &iql.value, batch);
                iql.expectile.record(rec, batch, self.config.expectile as f32, 1.0 / batch as f32);
                iql.value_loss_sum.record(rec, ReduceOp::Sum, 0, batch, slot + 4);
                iql.value_pass.record_backward(rec, &iql.value, batch, false);
                // As in IQL, V is updated first and the Q target bootstraps from the new V(s').
                iql.value_adam.record_step(rec);
                iql.next_value_pass.record_forward(rec, &iql.value, batch);
                td.support = 1;
            }
        }
        self.td.record_with(rec, td);
        // Both heads regress onto the same y.
        self.online_pass.record_forward(rec, &critic.online, batch);
        for k in 0..2 {
            let head = self.online_pass.output_offset(k) as u32;
            let loss = SquaredErrorParams {
                pred_off: head,
                grad_off: head,
                loss_off: (k * batch) as u32,
                scale: 1.0 / batch as f32,
                ..Default::default()
            };
            self.loss.record(rec, batch, 1, loss);
            self.loss_sum.record(rec, ReduceOp::Sum, k * batch, batch, slot + k);
        }
        self.q_mean.record(rec, ReduceOp::Mean, 0, batch, slot + 2);
        self.y_mean.record(rec, ReduceOp::Mean, 0, batch, slot + 3);
        self.online_pass.record_backward(rec, &critic.online, batch, false);
        self.adam.record_step(rec);
        self.polyak.record(rec, critic.online.params.len, self.config.tau as f32);
        self.steps += 1;
    }

    /// IQL's value network and its optimiser, when the critic is IQL.
    pub fn value_parts(&mut self) -> Option<(&Mlp, &mut Adam)> {
        self.iql.as_mut().map(|p| (&p.value, &mut p.value_adam))
    }
}
