//! Q-weighted iterative policy improvement (ALGORITHM.md section 4, stage 4).
//!
//! Every state i keeps a support set {a_i0 (its dataset action), a_i1..a_iM (sampled from
//! the current policy)} with weights g_ij = softmax_j(beta·Q(s_i, a_ij)), Q = min of the
//! twin heads. The critic is fixed, so the weights change only when the support set is
//! renewed (every `renew_every` steps) and are computed then for the whole dataset. Each
//! step is energy-weighted flow matching on batch×(M+1) pairs:
//!     L = Σ_i Σ_j g_ij ‖v(a_ij,t, t, s_i) - (a_ij - x0_ij)‖² / batch.

use anyhow::Result;

use super::critic::{StateActionInput, TwinCritic};
use super::support::{SupportLayout, SupportSampler, CHUNK_STATES};
use crate::data::GpuDataset;
use crate::flow::{VelocityNet, VelocityPass};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::{Adam, AdamConfig};
use crate::kernels::energy_weights::{EnergyWeights, EnergyWeightsParams};
use crate::kernels::flow_pairs::FlowPairs;
use crate::kernels::gather::Gather;
use crate::kernels::loss::{SquaredError, SquaredErrorParams};
use crate::kernels::reduce::{Reduce, ReduceOp};
use crate::kernels::rng::{streams, Distribution, RngFill, RngStream};
use crate::kernels::rows::{CopyRows, CopyRowsParams, Minimum, MinimumParams};
use crate::nn::MlpPass;
use crate::rl::config::PolicyConfig;

/// The random streams of policy improvement: minibatch indices, flow noise, flow times and
/// the support sampler's starting noise.
pub struct ImproveRng {
    pub minibatch: RngStream,
    pub noise: RngStream,
    pub time: RngStream,
    pub support: RngStream,
}

impl ImproveRng {
    pub fn new(seed: u64) -> Self {
        Self {
            minibatch: RngStream::new(seed, streams::MINIBATCH),
            noise: RngStream::new(seed, streams::FLOW_NOISE),
            time: RngStream::new(seed, streams::FLOW_TIME),
            support: RngStream::new(seed, streams::SUPPORT),
        }
    }
}

/// The critic evaluated on every support action, chunk by chunk.
struct SupportValues {
    input: StateActionInput,
    /// Both heads, as the two copies of the critic's MLP.
    pass: MlpPass,
    minimum: Minimum,
    softmax: EnergyWeights,
}

pub struct PolicyImprover {
    pub config: PolicyConfig,
    /// len×(M+1)×act_dim: each state's support set, dataset action first.
    pub support: GpuBuffer,
    /// len×(M+1): min(Q1, Q2) of every support action at the last renewal.
    pub q_values: GpuBuffer,
    /// len×(M+1): g_ij, each state's weights summing to 1.
    pub weights: GpuBuffer,
    /// Per-step losses, slot `steps % ring_len`.
    pub losses: GpuBuffer,
    pub adam: Adam,
    pub rng: ImproveRng,
    m: usize,
    len: usize,
    ring_len: usize,
    steps: u64,
    sampler: SupportSampler,
    values: SupportValues,
    draw_indices: RngFill,
    gathers: [(Gather, usize); 3],
    pairs: FlowPairs,
    pass: VelocityPass,
    loss: SquaredError,
    loss_sum: Reduce,
}

impl PolicyImprover {
    /// Binds the improver to the dataset, the (fixed) critic and the policy being improved.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        data: &GpuDataset,
        policy: &VelocityNet,
        critic: &TwinCritic,
        config: &PolicyConfig,
        m: usize,
        euler_steps: usize,
        seed: u64,
        ring_len: usize,
    ) -> Result<Self> {
        let (len, act, obs, batch) = (data.len, data.act_dim, data.obs_dim, config.batch);
        let group = m + 1;
        let support = GpuBuffer::zeros(gpu, "support sets", len * group * act)?;
        let q_values = GpuBuffer::zeros(gpu, "support Q values", len * group)?;
        let weights = GpuBuffer::zeros(gpu, "support weights", len * group)?;

        // Slot 0 of every group is the dataset action, written once.
        let mut rec = Recorder::new(gpu);
        CopyRows::new(gpu, &data.actions, &support)?.record(
            &mut rec,
            CopyRowsParams {
                rows: len as u32,
                width: act as u32,
                per_group: 1,
                dst_group: group as u32,
                ..Default::default()
            },
        );
        rec.submit()?;

        let layout = SupportLayout { group, first: 1 };
        let sampler = SupportSampler::new(gpu, policy, &data.observations, len, &support, m, layout, euler_steps)?;
        let chunk = CHUNK_STATES.min(len.max(1)) * group;
        let input = StateActionInput::new(gpu, &support, &data.observations, (act, obs), chunk, group)?;
        let pass = MlpPass::new(gpu, &critic.online, &input.rows, chunk, false)?;
        let values = SupportValues {
            minimum: Minimum::new(gpu, pass.output(), pass.output(), &q_values)?,
            softmax: EnergyWeights::new(gpu, &q_values, &weights)?,
            input,
            pass,
        };

        let rows = batch * group;
        let indices = GpuBuffer::zeros(gpu, "policy minibatch", batch)?;
        let x1 = GpuBuffer::zeros(gpu, "policy support batch", rows * act)?;
        let w = GpuBuffer::zeros(gpu, "policy weights batch", rows)?;
        let states = GpuBuffer::zeros(gpu, "policy states batch", batch * obs)?;
        let x_t = GpuBuffer::zeros(gpu, "policy x_t", rows * act)?;
        let t = GpuBuffer::zeros(gpu, "policy t", rows)?;
        let target = GpuBuffer::zeros(gpu, "policy target velocity", rows * act)?;
        let loss_rows = GpuBuffer::zeros(gpu, "policy loss rows", rows)?;
        let losses = GpuBuffer::zeros(gpu, "policy losses", ring_len.max(1))?;
        let pass = VelocityPass::new(gpu, policy, &x_t, &t, &states, rows, group, true)?;
        let grad = pass.mlp.output_grad().expect("training pass");
        Ok(Self {
            config: config.clone(),
            draw_indices: RngFill::new(gpu, &indices, Distribution::Index { n: u32::try_from(len)? })?,
            gathers: [
                (Gather::new(gpu, &indices, &support, &x1)?, group * act),
                (Gather::new(gpu, &indices, &weights, &w)?, group),
                (Gather::new(gpu, &indices, &data.observations, &states)?, obs),
            ],
            pairs: FlowPairs::new(gpu, &x1, &x_t, &t, &target)?,
            loss: SquaredError::new(gpu, pass.output(), &target, Some(&w), grad, &loss_rows)?,
            loss_sum: Reduce::new(gpu, &loss_rows, &losses)?,
            adam: Adam::new(
                gpu,
                &policy.mlp.params,
                &policy.mlp.grads,
                AdamConfig { lr: config.lr, ..Default::default() },
            )?,
            rng: ImproveRng::new(seed),
            pass,
            support,
            q_values,
            weights,
            losses,
            m,
            len,
            ring_len: ring_len.max(1),
            steps: 0,
            sampler,
            values,
        })
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records a renewal: M fresh actions per state from the current policy, their Q values
    /// and the weights of every support set.
    pub fn record_renewal(&mut self, rec: &mut Recorder, policy: &VelocityNet, critic: &TwinCritic) {
        self.sampler.record_all(rec, policy, &mut self.rng.support);
        let group = self.m + 1;
        let chunk_states = CHUNK_STATES.min(self.len.max(1));
        let mut first = 0;
        while first < self.len {
            let states = chunk_states.min(self.len - first);
            let rows = states * group;
            self.values.input.record(rec, rows, first * group, first);
            self.values.pass.record_forward(rec, &critic.online, rows);
            let offset = (first * group) as u32;
            let heads = MinimumParams {
                count: rows as u32,
                b_off: self.values.pass.output_offset(1) as u32,
                out_off: offset,
                ..Default::default()
            };
            self.values.minimum.record_with(rec, heads);
            let softmax = EnergyWeightsParams {
                groups: states as u32,
                group_size: group as u32,
                value_off: offset,
                weight_off: offset,
                coef: self.config.beta as f32,
                scale: 1.0,
            };
            self.values.softmax.record_with(rec, softmax);
            first += states;
        }
    }

    /// Records one improvement step; its loss goes to `losses[steps % ring_len]`.
    pub fn record_step(&mut self, rec: &mut Recorder, policy: &VelocityNet) {
        let batch = self.config.batch;
        let rows = batch * (self.m + 1);
        self.draw_indices.record(rec, &mut self.rng.minibatch, 0, batch);
        for (gather, width) in &self.gathers {
            gather.record(rec, batch, *width);
        }
        self.pairs.record(rec, rows, policy.spec.dim, &mut self.rng.noise, &mut self.rng.time);
        self.pass.record_forward(rec, policy, rows, Default::default());
        let params = SquaredErrorParams { has_weights: 1, scale: 1.0 / batch as f32, ..Default::default() };
        self.loss.record(rec, rows, policy.spec.dim, params);
        let slot = (self.steps % self.ring_len as u64) as usize;
        self.loss_sum.record(rec, ReduceOp::Sum, 0, rows, slot);
        self.pass.mlp.record_backward(rec, &policy.mlp, rows, false);
        self.adam.record_step(rec);
        self.steps += 1;
    }
}
