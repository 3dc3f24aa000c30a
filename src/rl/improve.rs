//! Q-weighted iterative policy improvement (ALGORITHM.md section 4, stage 4).
//!
//! Every state i keeps a support set {a_i0 (its dataset action), a_i1..a_iM (sampled from
//! the current policy)} with weights g_ij = softmax_j(beta·Q(s_i, a_ij)), Q = min of the
//! twin heads. The critic is fixed, so the weights change only when the support set is
//! renewed (every `renew_every` steps) and are computed then for the whole dataset. Each
//! step is energy-weighted flow matching on batch×(M+1) pairs:
//!     L = Σ_i Σ_j g_ij ‖v(a_ij,t, t, s_i) - (a_ij - x0_ij)‖² / batch.
//!
//! A policy of copies (seeds) improves every copy in the same dispatches, each against its
//! own seed's critic, with its own support sets (a table per seed) and minibatches. A grid
//! of β per seed is more copies of the same kind: each seed's behaviour policy and critic
//! repeated once per β ([`VelocityNet::repeat_copies`]), each copy with its own β in the
//! weights, drawing its seed's random numbers.

use anyhow::Result;

use super::config::{SupportConfig, SupportSource};
use super::critic::{StateActionInput, TwinCritic};
use super::diagnostics::support_drift;
use super::driver::{column_mean, read_ring, StageContext, StageTrainer};
use super::ema::Averaged;
use super::metrics::{FlowLoss, ImprovementMetrics, RenewalMetrics, SupportWeights};
use super::snapshot::{load_adam_seeds, load_rng, save_adam_seeds, save_rng};
use super::support::{chunk_states, SupportLayout, SupportSampler};
use crate::data::GpuDataset;
use crate::flow::weighted::{FlowBatch, WeightedFlowStep};
use crate::flow::VelocityNet;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::energy_weights::EnergyWeights;
use crate::kernels::gather::{Gather, GatherTable};
use crate::kernels::rows::{CopyRows, CopyRowsParams, Minimum};
use crate::nn::{CopyInput, MlpPass};
use crate::ops::AdamConfig;
use crate::rl::config::{CopySettings, PolicyConfig};
use crate::run::Checkpoint;

pub use super::improve_rng::ImproveRng;

/// The checkpoint name of the improved policy.
pub const POLICY: &str = "policy";

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
    /// Each copy's β in the weights g_ij (`config.beta` unless set per copy).
    betas: Vec<f64>,
    /// len×(M+1)×act_dim per seed: each state's support set, dataset action first.
    pub support: GpuBuffer,
    /// len×(M+1) per seed: min(Q1, Q2) of every support action at the last renewal.
    pub q_values: GpuBuffer,
    /// len×(M+1) per seed: g_ij, each state's weights summing to 1.
    pub weights: GpuBuffer,
    /// The pairs, loss, backward pass and Adam on each step's support sets (its losses, one
    /// per seed per step, in `flow.losses`).
    pub flow: WeightedFlowStep,
    pub rng: ImproveRng,
    m: usize,
    euler_steps: usize,
    len: usize,
    seeds: usize,
    chunk_states: usize,
    steps: u64,
    sampler: SupportSampler,
    values: SupportValues,
    /// Each drawn state's support set, weights and state, by indices drawn inline.
    gather: Gather,
}

impl PolicyImprover {
    /// Binds the improver to the dataset, the (fixed) critic and the policy being improved;
    /// renewals sample from `samples_from`: the policy, or the average of its weights.
    pub fn new(
        at: StageContext,
        policy: &VelocityNet,
        samples_from: &VelocityNet,
        critic: &TwinCritic,
        config: &PolicyConfig,
        support: &SupportConfig,
    ) -> Result<Self> {
        let StageContext { gpu, data, seed, ring_len } = at;
        let (m, euler_steps) = (support.actions, support.euler_steps);
        let (len, act, obs, batch) = (data.len, data.act_dim, data.obs_dim, config.batch);
        let seeds = policy.copies();
        anyhow::ensure!(critic.seeds == seeds, "a critic of {} seeds for a policy of {seeds}", critic.seeds);
        let group = m + 1;
        let support = GpuBuffer::zeros(gpu, "support sets", seeds * len * group * act)?;
        let q_values = GpuBuffer::zeros(gpu, "support Q values", seeds * len * group)?;
        let weights = GpuBuffer::zeros(gpu, "support weights", seeds * len * group)?;

        // Slot 0 of every group is the dataset action, written once into every seed's table.
        let mut rec = Recorder::new(gpu);
        let first_slots = CopyRows::new(gpu, &data.actions, &support)?;
        for c in 0..seeds {
            let params = CopyRowsParams {
                rows: len as u32,
                width: act as u32,
                per_group: 1,
                dst_group: group as u32,
                dst_off: (c * len * group * act) as u32,
                ..Default::default()
            };
            first_slots.record(&mut rec, params);
        }
        rec.submit()?;

        let layout = SupportLayout::after_dataset_action(m);
        let states = &data.observations;
        let sampler = SupportSampler::new(gpu, samples_from, states, len, &support, layout, euler_steps)?;
        let chunk_states = chunk_states(len, seeds);
        let chunk = chunk_states * group;
        // Each seed's chunk of support actions, one after another; the states are shared.
        let input = StateActionInput::new(gpu, &support, &data.observations, (act, obs), seeds * chunk, group)?;
        let pass = MlpPass::with_input(gpu, &critic.online, &input.rows, chunk, false, CopyInput::PerGroup(2))?;
        let values = SupportValues {
            minimum: Minimum::new(gpu, pass.output(), pass.output(), &q_values)?,
            softmax: EnergyWeights::new(gpu, &q_values, &weights)?,
            input,
            pass,
        };

        // Rows of one seed's step; every batch buffer holds one such block per seed.
        let rows = batch * group;
        let all = seeds * rows;
        let x1 = GpuBuffer::zeros(gpu, "policy support batch", all * act)?;
        let w = GpuBuffer::zeros(gpu, "policy weights batch", all)?;
        let states = GpuBuffer::zeros(gpu, "policy states batch", seeds * batch * obs)?;
        // Every state's M + 1 rows share its row of states.
        let flow_batch = FlowBatch { x1: &x1, weights: &w, cond: &states, rows, repeat: group };
        let adam = AdamConfig { lr: config.lr, ..Default::default() };
        Ok(Self {
            config: config.clone(),
            betas: vec![config.beta; seeds],
            gather: Gather::new(
                gpu,
                &[
                    GatherTable { src: &support, out: &x1, width: group * act, per_copy: true },
                    GatherTable { src: &weights, out: &w, width: group, per_copy: true },
                    GatherTable { src: &data.observations, out: &states, width: obs, per_copy: false },
                ],
                len,
            )?
            .with_copies_per_seed(policy.copies_per_seed),
            flow: WeightedFlowStep::new(gpu, policy, flow_batch, adam, ring_len)?,
            rng: ImproveRng::new(seed),
            support,
            q_values,
            weights,
            m,
            euler_steps,
            len,
            seeds,
            chunk_states,
            steps: 0,
            sampler,
            values,
        })
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Gives copy c the settings `copies[c]`: its β in the weights from the next renewal on,
    /// its learning rate from the next step on.
    pub fn set_copy_settings(&mut self, gpu: &Gpu, copies: &[CopySettings]) -> Result<()> {
        anyhow::ensure!(copies.len() == self.seeds, "settings of {} copies for {}", copies.len(), self.seeds);
        self.betas = copies.iter().map(|c| c.beta).collect();
        let lrs: Vec<f64> = copies.iter().map(|c| c.lr).collect();
        self.flow.adam.set_copy_lrs(gpu, &lrs)
    }

    /// Records a renewal: M fresh actions per state from the current policy, their Q values
    /// and the weights of every support set.
    pub fn record_renewal(&mut self, rec: &mut Recorder, policy: &VelocityNet, critic: &TwinCritic) {
        self.sampler.record_all(rec, policy, &mut self.rng.support);
        self.record_weights(rec, critic);
    }

    /// A sampler that renews the support sets from `net` instead of the policy (the behaviour
    /// policy, with `policy.support_from = "behaviour"`); `net` has the policy's shape and
    /// copies. Samplers are bound to their network's buffers when built, hence one per source.
    pub fn support_sampler(&self, gpu: &Gpu, data: &GpuDataset, net: &VelocityNet) -> Result<SupportSampler> {
        let layout = SupportLayout::after_dataset_action(self.m);
        SupportSampler::new(gpu, net, &data.observations, self.len, &self.support, layout, self.euler_steps)
    }

    /// Records a renewal from `sampler`, built by [`Self::support_sampler`] for `net`.
    pub fn record_renewal_from(
        &mut self,
        rec: &mut Recorder,
        sampler: &SupportSampler,
        net: &VelocityNet,
        critic: &TwinCritic,
    ) {
        sampler.record_all(rec, net, &mut self.rng.support);
        self.record_weights(rec, critic);
    }

    /// The critic's min(Q1, Q2) of every support action and each state's softmax weights.
    fn record_weights(&mut self, rec: &mut Recorder, critic: &TwinCritic) {
        let (group, len, seeds) = (self.m + 1, self.len, self.seeds);
        let mut first = 0;
        while first < len {
            let states = self.chunk_states.min(len - first);
            let rows = states * group;
            for c in 0..seeds {
                let table = c * len * group;
                self.values.input.record_at(rec, rows, table + first * group, first, c * rows);
            }
            self.values.pass.record_forward(rec, &critic.online, rows);
            for c in 0..seeds {
                let offset = (c * len + first) * group;
                let heads = self.values.pass.twin_heads(rows);
                self.values.minimum.record_twin_heads(rec, heads, c, offset);
                self.values.softmax.record_at(rec, offset, states, group, self.betas[c] as f32);
            }
            first += states;
        }
    }

    /// Records one improvement step; seed c's loss goes to `flow.losses[slot × seeds + c]`, slot
    /// `steps % ring_len`.
    pub fn record_step(&mut self, rec: &mut Recorder, policy: &VelocityNet) {
        let batch = self.config.batch;
        self.gather.record(rec, self.rng.minibatch.next_draw(), self.seeds, batch);
        // L = Σ_i Σ_j g_ij ‖v(a_ij,t, t, s_i) - (a_ij - x0_ij)‖² / batch
        let scale = 1.0 / batch as f32;
        self.flow.record(rec, policy, self.steps, scale, &mut self.rng.noise, &mut self.rng.time);
        self.steps += 1;
    }
}

/// Policy improvement as the driver runs it: the policy, a copy per seed starting from the
/// behaviour policy's weights, improved against the fixed critic.
pub struct Improvement<'a> {
    /// The policy, and the average of its weights when `policy_net.ema` asks for one: then
    /// renewals sample from the average, and it is what is evaluated and saved as the policy.
    pub policy: Averaged,
    improver: PolicyImprover,
    behaviour: &'a VelocityNet,
    critic: &'a TwinCritic,
    /// Renews from the behaviour policy rather than the policy (`policy.support_from`).
    from_behaviour: Option<SupportSampler>,
    data: &'a GpuDataset,
    /// Support actions per state.
    m: usize,
    renew_every: u64,
    /// Each seed's support statistics at the first renewal this improvement made, and at the
    /// latest (after the last step: the final policy's).
    pub first_renewal: Option<Vec<SupportWeights>>,
    pub last_renewal: Option<Vec<SupportWeights>>,
}

impl<'a> Improvement<'a> {
    /// Improves a copy of `behaviour` on `data` against `critic`, copy c with the β and
    /// learning rate of `copies[c]`,
    /// its weights averaged with `ema` (0: not averaged), drawing from `seed`; `ring_len`
    /// steps' losses are kept between reads.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        at: StageContext<'a>,
        behaviour: &'a VelocityNet,
        critic: &'a TwinCritic,
        config: &PolicyConfig,
        copies: &[CopySettings],
        support: &SupportConfig,
        ema: f64,
    ) -> Result<Self> {
        let (gpu, data, m) = (at.gpu, at.data, support.actions);
        let policy = Averaged::new(gpu, behaviour.duplicate(gpu)?, ema)?;
        let (online, used) = (&policy.online, policy.used());
        let mut improver = PolicyImprover::new(at, online, used, critic, config, support)?;
        improver.set_copy_settings(gpu, copies)?;
        policy.follow(gpu, &mut improver.flow.adam)?;
        let from_behaviour = match config.support_from {
            SupportSource::Behaviour => Some(improver.support_sampler(gpu, data, behaviour)?),
            SupportSource::Policy => None,
        };
        Ok(Self {
            policy,
            improver,
            behaviour,
            critic,
            from_behaviour,
            data,
            m,
            renew_every: config.renew_every.max(1),
            first_renewal: None,
            last_renewal: None,
        })
    }

    /// Each seed's statistics of its support sets after a renewal: the mean Q of the dataset
    /// actions and of the policy's, the entropy and effective sample size of the weights, and
    /// how far the policy's samples have drifted from the dataset's actions.
    fn support_statistics(&self, gpu: &Gpu) -> Result<Vec<RenewalMetrics>> {
        let (improver, seeds) = (&self.improver, self.policy.online.copies());
        let q: Vec<f32> = improver.q_values.read(gpu)?;
        let w: Vec<f32> = improver.weights.read(gpu)?;
        let per_seed = q.len() / seeds;
        let (len, act) = (self.data.len, self.data.act_dim);
        let drift = support_drift(gpu, &improver.support, seeds, len, self.m, act)?;
        Ok(q.chunks(per_seed)
            .zip(w.chunks(per_seed))
            .zip(drift)
            .map(|((q, w), drift)| RenewalMetrics { weights: support_weights(q, w, self.m), drift })
            .collect())
    }
}

impl StageTrainer for Improvement<'_> {
    type Metrics = ImprovementMetrics;

    fn record_step(&mut self, rec: &mut Recorder) {
        self.improver.record_step(rec, &self.policy.online);
    }

    fn read_metrics(&self, gpu: &Gpu, steps: usize) -> Result<Vec<ImprovementMetrics>> {
        let seeds = self.policy.online.copies();
        let losses = read_ring(gpu, &self.improver.flow.losses, self.improver.steps(), steps, seeds)?;
        Ok((0..seeds).map(|c| ImprovementMetrics::Steps(FlowLoss { loss: column_mean(&losses, seeds, c) })).collect())
    }

    fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint]) -> Result<()> {
        self.policy.save(gpu, ckpts, POLICY)?;
        save_adam_seeds(ckpts, gpu, &[POLICY], &self.improver.flow.adam, self.policy.online.spec.param_count())?;
        for (name, stream) in self.improver.rng.named() {
            save_rng(ckpts, name, stream);
        }
        Ok(())
    }

    fn load(&mut self, gpu: &Gpu, ckpts: &[Checkpoint]) -> Result<()> {
        self.policy.load(gpu, ckpts, POLICY)?;
        load_adam_seeds(ckpts, gpu, &[POLICY], &mut self.improver.flow.adam, self.policy.online.spec.param_count())?;
        for (name, stream) in self.improver.rng.named_mut() {
            load_rng(ckpts, name, stream)?;
        }
        Ok(())
    }

    fn evaluated(&self) -> Option<&VelocityNet> {
        Some(self.policy.used())
    }

    fn renew_every(&self) -> u64 {
        self.renew_every
    }

    /// M fresh actions per state and the weights of every support set; the last renewal
    /// measures the final policy, whatever the others draw from.
    fn renew(&mut self, gpu: &Gpu, last: bool) -> Result<Vec<ImprovementMetrics>> {
        let mut rec = Recorder::new(gpu);
        match &self.from_behaviour {
            Some(sampler) if !last => self.improver.record_renewal_from(&mut rec, sampler, self.behaviour, self.critic),
            _ => self.improver.record_renewal(&mut rec, self.policy.used(), self.critic),
        }
        rec.submit_and_wait()?;
        let stats = self.support_statistics(gpu)?;
        let weights: Vec<SupportWeights> = stats.iter().map(|s| s.weights.clone()).collect();
        self.first_renewal.get_or_insert_with(|| weights.clone());
        self.last_renewal = Some(weights);
        Ok(stats.into_iter().map(ImprovementMetrics::Renewal).collect())
    }
}

/// Statistics of one seed's support sets: its Q values and weights, M + 1 per state.
fn support_weights(q: &[f32], w: &[f32], m: usize) -> SupportWeights {
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
    SupportWeights {
        q_data_mean: q_data / n,
        q_policy_mean: q_policy / n,
        weight_entropy: entropy / n,
        weight_ess: ess / n,
        weight_dataset_action: w_data / n,
    }
}
