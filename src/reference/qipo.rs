//! CPU reference of whole QIPO steps (ALGORITHM.md sections 2 to 4), built from the kernels'
//! CPU twins: one step of energy-weighted flow matching (behaviour pretraining is the case
//! beta = 0), the support sampler, one critic step (softmax Q-learning or IQL), and policy
//! improvement's renewal and step.
//!
//! Each function does what its GPU stage records, in the same order and with the same random
//! draws (the same stream, call counter and element index for every number), so a test can
//! run a stage on both from the same parameters and seeds and compare the results. The code
//! is also meant to be read: it is the plainest statement of what each stage computes.
//!
//! | GPU stage | here |
//! |---|---|
//! | [`crate::flow::weighted::WeightedFlowStep::record`] | `weighted_flow_step` |
//! | [`crate::flow::EfmTrainer::record_step`] | [`EfmReference::step`] |
//! | [`crate::flow::EulerSampler::record`] | [`euler_sample`] |
//! | [`crate::rl::support::SupportSampler::record_all`] | [`sample_support`] |
//! | [`crate::rl::critic::CriticTrainer::record_step`] | [`CriticReference::step`] |
//! | [`crate::rl::improve::PolicyImprover::record_renewal`] | [`ImproverReference::renew`] |
//! | [`crate::rl::improve::PolicyImprover::record_step`] | [`ImproverReference::step`] |

use super::adam::{self, AdamState};
use super::{critic, flow, gather, loss, mlp, reduce, resnet, rng, rows, time_embedding};
use crate::data::dataset::Dataset;
use crate::flow::spec::{EfmConfig, VelocitySpec};
use crate::nn::mlp_spec::MlpSpec;
use crate::ops::{AdamConfig, ReduceOp};
use crate::random::{streams, RngStream};
use crate::rl::config::{CriticConfig, PolicyConfig};
use crate::rl::critic_stat::CriticStat;
use crate::rl::improve_rng::ImproveRng;

/// A velocity network v(x_t, t [, cond]) on the CPU: the flat MLP parameters and the Fourier
/// frequencies of a [`crate::flow::VelocityNet`].
#[derive(Clone, Debug)]
pub struct VelocityParams {
    pub spec: VelocitySpec,
    pub params: Vec<f32>,
    pub frequencies: Vec<f32>,
}

impl VelocityParams {
    /// The MLP's input rows [x, sin(2π t w), cos(2π t w), cond[row / repeat]].
    pub fn embed(&self, x: &[f32], t: &[f32], cond: &[f32], repeat: usize) -> Vec<f32> {
        let (dim, cond_dim) = (self.spec.dim, self.spec.cond_dim);
        time_embedding::embed(x, t, &self.frequencies, cond, dim, cond_dim, repeat)
    }

    /// The velocity of every row (rows×dim), one conditioning row per `repeat` rows.
    pub fn velocity(&self, x: &[f32], t: &[f32], cond: &[f32], repeat: usize) -> Vec<f32> {
        let input = self.embed(x, t, cond, repeat);
        self.forward(&input, t.len()).0
    }

    /// The network's output for `rows` embedded input rows, and what its backward pass needs.
    fn forward(&self, input: &[f32], rows: usize) -> (Vec<f32>, Forward) {
        match self.spec.resnet() {
            None => {
                let layers = mlp::forward(&self.spec.mlp(), &self.params, input, rows);
                let output = layers.last().expect("an MLP has at least one layer").1.clone();
                (output, Forward::Mlp(layers))
            }
            Some(spec) => {
                let trace = resnet::forward(&spec, &self.params, input, rows);
                (trace.output.1.clone(), Forward::ResNet(Box::new(trace)))
            }
        }
    }

    /// The gradient of every parameter given dL/d(output) of [`Self::forward`].
    fn backward(&self, input: &[f32], forward: &Forward, d_output: &[f32], rows: usize) -> Vec<f32> {
        match (forward, self.spec.resnet()) {
            (Forward::Mlp(layers), None) => {
                mlp::backward(&self.spec.mlp(), &self.params, input, layers, d_output, rows)
            }
            (Forward::ResNet(trace), Some(spec)) => resnet::backward(&spec, &self.params, trace, d_output, rows),
            _ => unreachable!("a forward pass of another network"),
        }
    }
}

/// An MLP's output for `rows` input rows.
fn network_output(spec: &MlpSpec, params: &[f32], input: &[f32], rows: usize) -> Vec<f32> {
    let mut layers = mlp::forward(spec, params, input, rows);
    layers.pop().expect("an MLP has at least one layer").1
}

/// What a forward pass of either network keeps for its backward pass.
enum Forward {
    Mlp(mlp::Activations),
    ResNet(Box<resnet::Trace>),
}

/// The loss a GPU reduction writes: the sum of the per-row losses.
fn total(loss_rows: &[f32]) -> f32 {
    reduce::reduce(loss_rows, ReduceOp::Sum) as f32
}

fn mean(values: &[f32]) -> f32 {
    reduce::reduce(values, ReduceOp::Mean) as f32
}

/// What one optimisation step of a velocity network computed.
#[derive(Clone, Debug)]
pub struct FlowStep {
    /// The loss before the update (what the GPU writes to its loss ring).
    pub loss: f32,
    /// The gradient of that loss with respect to every parameter (before any clipping).
    pub grads: Vec<f32>,
}

/// One Adam step of `net` on the weighted flow-matching loss
///     L = Σ_r scale · w_r · ‖v(x_t,r, t_r, cond[r / repeat]) - target_r‖²
/// for the pairs (x_t, t, target) of [`flow::flow_pairs`]: the core shared by EFM training and
/// policy improvement.
#[allow(clippy::too_many_arguments)]
fn weighted_flow_step(
    net: &mut VelocityParams,
    adam_state: &mut AdamState,
    adam_config: &AdamConfig,
    (x_t, t, target): &(Vec<f32>, Vec<f32>, Vec<f32>),
    cond: &[f32],
    repeat: usize,
    weights: &[f32],
    scale: f32,
) -> FlowStep {
    let rows = t.len();
    let input = net.embed(x_t, t, cond, repeat);
    let (prediction, forward) = net.forward(&input, rows);
    let (loss_rows, d_prediction) =
        loss::weighted_squared_error(&prediction, target, Some(weights), rows, net.spec.dim, scale);
    let grads = net.backward(&input, &forward, &d_prediction, rows);
    adam::step(&mut net.params, &grads, adam_state, adam_config);
    FlowStep { loss: total(&loss_rows), grads }
}

// ---------------------------------------------------------------------------------------
// Energy-weighted flow matching; behaviour pretraining (stage 1) is beta = 0.

/// The table an EFM step draws from, as [`crate::flow::efm::EfmTable`]: data points x1
/// (len×dim), their energies (len) and conditioning rows (len×cond_dim; empty when
/// unconditional). Behaviour pretraining: the dataset's actions, zeros, its states.
pub struct EfmTable<'a> {
    pub points: &'a [f32],
    pub energies: &'a [f32],
    pub cond: &'a [f32],
}

/// The state of an [`crate::flow::EfmTrainer`]: settings, Adam moments, and the streams of
/// the minibatch indices, the noise x0 and the times t (in that order).
pub struct EfmReference {
    pub config: EfmConfig,
    pub adam: AdamState,
    pub rng: [RngStream; 3],
}

impl EfmReference {
    /// A trainer of a network with `param_count` parameters, its streams from `seed`.
    pub fn new(config: EfmConfig, param_count: usize, seed: u64) -> Self {
        let rng = [streams::MINIBATCH, streams::FLOW_NOISE, streams::FLOW_TIME].map(|s| RngStream::new(seed, s));
        Self { config, adam: AdamState::new(param_count), rng }
    }

    /// One step: a minibatch of the table, flow pairs, weights softmax(-beta·E) per group,
    /// the weighted loss, backward and Adam. Each stream gives one draw.
    pub fn step(&mut self, net: &mut VelocityParams, table: &EfmTable) -> FlowStep {
        let (batch, beta) = (self.config.batch, self.config.beta);
        let (dim, cond_dim) = (net.spec.dim, net.spec.cond_dim);
        let [index_rng, noise_rng, time_rng] = &mut self.rng;
        let len = table.energies.len() as u32;
        let indices = rng::fill_indices(index_rng.next_draw(), batch, len);
        let x1 = gather::gather_rows(table.points, dim, &indices);
        let energies = gather::gather_rows(table.energies, 1, &indices);
        let cond = if cond_dim == 0 { Vec::new() } else { gather::gather_rows(table.cond, cond_dim, &indices) };
        let pairs = flow::flow_pairs(&x1, batch, dim, noise_rng.next_draw(), time_rng.next_draw());
        let group = if self.config.group == 0 { batch } else { self.config.group };
        // Each group's weights sum to group/batch, so all of them sum to 1.
        let weights = flow::energy_weights(&energies, group, -beta, group as f32 / batch as f32);
        weighted_flow_step(net, &mut self.adam, &self.config.adam, &pairs, &cond, 1, &weights, 1.0)
    }
}

// ---------------------------------------------------------------------------------------
// Sampling and the support actions (stage 2).

/// Euler sampling of `rows` samples of `net`, one conditioning row per `repeat` samples:
/// x0 ~ N(0, I) from one draw of `rng` (element i of the rows×dim block uses index i), then
/// `steps` steps x ← x + v(x, k/N)/N, clipped to `clip` after the last.
pub fn euler_sample(
    net: &VelocityParams,
    cond: &[f32],
    rows: usize,
    repeat: usize,
    steps: usize,
    rng: &mut RngStream,
    clip: Option<(f32, f32)>,
) -> Vec<f32> {
    let mut x = rng::fill_normal(rng.next_draw(), rows * net.spec.dim, 1.0, 0.0);
    let dt = 1.0 / steps as f32;
    for k in 0..steps {
        let t = vec![k as f32 / steps as f32; rows];
        let v = net.velocity(&x, &t, cond, repeat);
        let last = k + 1 == steps;
        flow::euler_step(&mut x, &v, dt, if last { clip } else { None });
    }
    x
}

/// M actions for every state of `states` (len×cond_dim), state after state, clipped to
/// D4RL's [-1, 1]. Like the GPU, the whole table takes one draw of `rng`, sample i's noise
/// being elements i·dim.. of it, however the GPU splits the states into chunks. Place them
/// with [`rows::copy_rows`] as a layout needs.
pub fn sample_support(
    net: &VelocityParams,
    states: &[f32],
    m: usize,
    euler_steps: usize,
    rng: &mut RngStream,
) -> Vec<f32> {
    let rows = states.len() / net.spec.cond_dim.max(1) * m;
    euler_sample(net, states, rows, m, euler_steps, rng, Some((-1.0, 1.0)))
}

// ---------------------------------------------------------------------------------------
// The critic (stage 3).

/// A twin critic on the CPU: both heads' online and target parameters.
#[derive(Clone, Debug)]
pub struct TwinCriticParams {
    pub spec: MlpSpec,
    pub online: [Vec<f32>; 2],
    pub target: [Vec<f32>; 2],
}

impl TwinCriticParams {
    /// min(Q1, Q2) of the online heads on critic input rows.
    pub fn online_min_q(&self, input: &[f32], rows: usize) -> Vec<f32> {
        let [q1, q2] = self.online.each_ref().map(|params| network_output(&self.spec, params, input, rows));
        rows::minimum(&q1, &q2)
    }

    /// Both target heads on critic input rows.
    fn target_q(&self, input: &[f32], rows: usize) -> [Vec<f32>; 2] {
        self.target.each_ref().map(|params| network_output(&self.spec, params, input, rows))
    }
}

/// The critic's input rows [a, s], each state row feeding `repeat` consecutive action rows.
/// (The GPU builds them with the time-embedding kernel and no time features.)
pub fn state_action_rows(actions: &[f32], states: &[f32], act_dim: usize, obs_dim: usize, repeat: usize) -> Vec<f32> {
    let rows = actions.len() / act_dim;
    time_embedding::embed(actions, &vec![0.0; rows], &[], states, act_dim, obs_dim, repeat)
}

/// One minibatch of transitions, as [`crate::data::MinibatchSampler`] draws it: `size`
/// dataset rows uniform with replacement, from one draw of the minibatch stream.
pub struct Batch {
    pub indices: Vec<u32>,
    pub observations: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub next_observations: Vec<f32>,
    pub dones: Vec<f32>,
}

impl Batch {
    pub fn draw(data: &Dataset, size: usize, rng: &mut RngStream) -> Self {
        let indices = rng::fill_indices(rng.next_draw(), size, data.len() as u32);
        let rows = |values: &[f32], width: usize| gather::gather_rows(values, width, &indices);
        Self {
            observations: rows(&data.observations, data.obs_dim),
            actions: rows(&data.actions, data.act_dim),
            rewards: rows(&data.rewards, 1),
            next_observations: rows(&data.next_observations, data.obs_dim),
            dones: rows(&data.terminals, 1),
            indices,
        }
    }
}

/// IQL's value network V(s) and its optimiser.
#[derive(Clone, Debug)]
pub struct ValueNet {
    pub spec: MlpSpec,
    pub params: Vec<f32>,
    pub adam: AdamState,
}

/// What one critic step computed.
#[derive(Clone, Debug)]
pub struct CriticStep {
    /// The step's statistics in the order of [`CriticStat::ALL`]; the value loss is 0 for
    /// the softmax critic.
    pub stats: [f32; CriticStat::ALL.len()],
    /// The TD targets y of the minibatch.
    pub targets: Vec<f32>,
    /// Each online head's gradient.
    pub grads: [Vec<f32>; 2],
    /// The value network's gradient (IQL only).
    pub value_grads: Option<Vec<f32>>,
}

/// The state of a [`crate::rl::critic::CriticTrainer`]: settings, both heads' Adam moments,
/// IQL's value network, and the minibatch stream.
pub struct CriticReference {
    pub config: CriticConfig,
    pub adam: [AdamState; 2],
    /// Present for the IQL critic.
    pub value: Option<ValueNet>,
    pub rng: RngStream,
    /// M, support actions per next state (softmax critic).
    pub support: usize,
}

impl CriticReference {
    /// `value` is IQL's value network (spec and parameters), `None` for the softmax critic.
    pub fn new(
        config: &CriticConfig,
        critic: &TwinCriticParams,
        value: Option<(MlpSpec, Vec<f32>)>,
        support: usize,
        seed: u64,
    ) -> Self {
        let param_count = critic.spec.param_count();
        Self {
            config: config.clone(),
            adam: [AdamState::new(param_count), AdamState::new(param_count)],
            value: value.map(|(spec, params)| ValueNet { adam: AdamState::new(params.len()), spec, params }),
            rng: RngStream::new(seed, streams::MINIBATCH),
            support,
        }
    }

    fn adam_config(&self) -> AdamConfig {
        AdamConfig { lr: self.config.lr, ..Default::default() }
    }

    /// One step. `next_support` holds M behaviour actions for every next state
    /// (len×M×act_dim); IQL does not read it.
    ///
    /// Softmax: y = r + γ(1 - d)·Σ_j softmax_j(α·Q'(s', a'_j))·Q'(s', a'_j), Q' = min of the
    /// target heads. IQL: V(s) takes an expectile step towards min Q'(s, a), and
    /// y = r + γ(1 - d)·V(s') with V before that step. Then each head takes an Adam step on
    /// its mean squared error to y, and its target moves towards it by Polyak averaging.
    pub fn step(&mut self, critic: &mut TwinCriticParams, data: &Dataset, next_support: &[f32]) -> CriticStep {
        let adam_config = self.adam_config();
        let (batch, m) = (self.config.batch, self.support);
        let (obs_dim, act_dim) = (data.obs_dim, data.act_dim);
        let (alpha, gamma) = (self.config.alpha_q as f32, self.config.gamma as f32);
        let b = Batch::draw(data, batch, &mut self.rng);
        let online_input = state_action_rows(&b.actions, &b.observations, act_dim, obs_dim, 1);

        let (targets, value_loss, value_grads) = match &mut self.value {
            None => {
                let support = gather::gather_rows(next_support, m * act_dim, &b.indices);
                let target_input = state_action_rows(&support, &b.next_observations, act_dim, obs_dim, m);
                let [q1, q2] = critic.target_q(&target_input, batch * m);
                let (targets, _) = critic::td_target(&q1, &q2, &b.rewards, &b.dones, m, alpha, gamma);
                (targets, 0.0, None)
            }
            Some(value) => {
                let [q1, q2] = critic.target_q(&online_input, batch);
                let min_q = rows::minimum(&q1, &q2);
                let layers = mlp::forward(&value.spec, &value.params, &b.observations, batch);
                let v = &layers.last().expect("an MLP has at least one layer").1;
                let expectile = self.config.expectile as f32;
                let (loss_rows, d_v) = critic::expectile_loss(v, &min_q, expectile, 1.0 / batch as f32);
                let grads = mlp::backward(&value.spec, &value.params, &b.observations, &layers, &d_v, batch);
                // As in IQL, V is updated first and the Q target bootstraps from the new V(s').
                adam::step(&mut value.params, &grads, &mut value.adam, &adam_config);
                let next_v = network_output(&value.spec, &value.params, &b.next_observations, batch);
                // A support of one action: the soft value is V(s') itself.
                let (targets, _) = critic::td_target(&next_v, &next_v, &b.rewards, &b.dones, 1, alpha, gamma);
                (targets, total(&loss_rows), Some(grads))
            }
        };

        let mut stats = [0.0; CriticStat::ALL.len()];
        let mut grads: [Vec<f32>; 2] = Default::default();
        for k in 0..2 {
            let layers = mlp::forward(&critic.spec, &critic.online[k], &online_input, batch);
            let q = &layers.last().expect("an MLP has at least one layer").1;
            let (loss_rows, d_q) = loss::weighted_squared_error(q, &targets, None, batch, 1, 1.0 / batch as f32);
            stats[[CriticStat::Q1Loss, CriticStat::Q2Loss][k].index()] = total(&loss_rows);
            if k == 0 {
                stats[CriticStat::QMean.index()] = mean(q);
            }
            grads[k] = mlp::backward(&critic.spec, &critic.online[k], &online_input, &layers, &d_q, batch);
            adam::step(&mut critic.online[k], &grads[k], &mut self.adam[k], &adam_config);
            critic::polyak(&mut critic.target[k], &critic.online[k], self.config.tau as f32);
        }
        stats[CriticStat::TargetMean.index()] = mean(&targets);
        stats[CriticStat::ValueLoss.index()] = value_loss;
        CriticStep { stats, targets, grads, value_grads }
    }
}

// ---------------------------------------------------------------------------------------
// Policy improvement (stage 4).

/// The state of a [`crate::rl::improve::PolicyImprover`]: every state's support set and its
/// Q-values and weights, Adam's moments and the four random streams.
pub struct ImproverReference {
    pub config: PolicyConfig,
    /// len×(M+1)×act_dim: each state's support set, its dataset action first.
    pub support: Vec<f32>,
    /// len×(M+1): min(Q1, Q2) of every support action at the last renewal.
    pub q_values: Vec<f32>,
    /// len×(M+1): g_ij = softmax_j(beta·Q(s_i, a_ij)).
    pub weights: Vec<f32>,
    pub adam: AdamState,
    pub rng: ImproveRng,
    pub m: usize,
    pub euler_steps: usize,
}

impl ImproverReference {
    /// Support sets holding only the dataset actions (slot 0) until the first renewal.
    pub fn new(
        data: &Dataset,
        policy: &VelocityParams,
        config: &PolicyConfig,
        m: usize,
        euler_steps: usize,
        seed: u64,
    ) -> Self {
        let group = m + 1;
        let mut support = vec![0.0; data.len() * group * data.act_dim];
        rows::copy_rows(&data.actions, &mut support, data.act_dim, 1, group, 0);
        Self {
            config: config.clone(),
            support,
            q_values: vec![0.0; data.len() * group],
            weights: vec![0.0; data.len() * group],
            adam: AdamState::new(policy.params.len()),
            rng: ImproveRng::new(seed),
            m,
            euler_steps,
        }
    }

    /// A renewal: M fresh actions per state from `source` (the current policy, or the behaviour
    /// policy) into slots 1..M, then the fixed critic's min-Q of every support action and each
    /// state's softmax weights.
    pub fn renew(&mut self, source: &VelocityParams, critic: &TwinCriticParams, data: &Dataset) {
        let (group, act_dim) = (self.m + 1, data.act_dim);
        let samples = sample_support(source, &data.observations, self.m, self.euler_steps, &mut self.rng.support);
        rows::copy_rows(&samples, &mut self.support, act_dim, self.m, group, 1);
        let input = state_action_rows(&self.support, &data.observations, act_dim, data.obs_dim, group);
        self.q_values = critic.online_min_q(&input, data.len() * group);
        self.weights = flow::energy_weights(&self.q_values, group, self.config.beta as f32, 1.0);
    }

    /// One step of weighted flow matching on batch×(M+1) pairs:
    ///     L = Σ_i Σ_j g_ij ‖v(a_ij,t, t, s_i) - (a_ij - x0_ij)‖² / batch.
    pub fn step(&mut self, policy: &mut VelocityParams, data: &Dataset) -> FlowStep {
        let (batch, group, act_dim) = (self.config.batch, self.m + 1, data.act_dim);
        let indices = rng::fill_indices(self.rng.minibatch.next_draw(), batch, data.len() as u32);
        let x1 = gather::gather_rows(&self.support, group * act_dim, &indices);
        let weights = gather::gather_rows(&self.weights, group, &indices);
        let states = gather::gather_rows(&data.observations, data.obs_dim, &indices);
        let pairs =
            flow::flow_pairs(&x1, batch * group, act_dim, self.rng.noise.next_draw(), self.rng.time.next_draw());
        let adam_config = AdamConfig { lr: self.config.lr, ..Default::default() };
        let scale = 1.0 / batch as f32;
        weighted_flow_step(policy, &mut self.adam, &adam_config, &pairs, &states, group, &weights, scale)
    }
}
