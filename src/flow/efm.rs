//! Energy-weighted flow matching (ALGORITHM.md section 3) on a table of points held on the
//! GPU: each step draws a minibatch, forms flow-matching pairs, weights each pair by the
//! softmax of -beta·E of its data point over its group, and takes an Adam step on
//!     L = Σ_i w_i · ‖v(x_t,i, t_i [, c_i]) - (x1_i - x0_i)‖²,   Σ_i w_i = 1.
//! beta = 0 gives plain (conditional) flow matching. Nothing is read back inside the loop:
//! each step's loss goes into a ring buffer that the caller reads between submits.
//!
//! A network of copies trains every copy (seed) in the same dispatches, each on its own
//! minibatch drawn as a run with its seed would draw it; the table is shared.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::velocity::{VelocityNet, VelocityPass};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::{Adam, AdamConfig};
use crate::kernels::energy_weights::EnergyWeights;
use crate::kernels::flow_pairs::FlowPairs;
use crate::kernels::gather::{Gather, GatherTable};
use crate::kernels::loss::{SquaredError, SquaredErrorParams};
use crate::kernels::rng::{streams, RngStream};

/// Training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EfmConfig {
    /// Pairs per step.
    pub batch: usize,
    /// Guidance strength: weights ∝ exp(-beta·E).
    pub beta: f32,
    /// Rows sharing one softmax normaliser; 0 means the whole batch.
    pub group: usize,
    pub adam: AdamConfig,
}

/// The table the trainer draws from: `len` data points x1 (len×dim), their energies and,
/// for a conditional network, their conditioning rows (len×cond_dim).
pub struct EfmTable<'a> {
    pub len: usize,
    pub points: &'a GpuBuffer,
    pub energies: &'a GpuBuffer,
    pub cond: Option<&'a GpuBuffer>,
}

pub struct EfmTrainer {
    pub config: EfmConfig,
    /// Per-step losses, one per copy: step k's are at slot `k % ring_len`, `copies` values
    /// from `slot × copies` on.
    pub losses: GpuBuffer,
    pub adam: Adam,
    /// The random streams: minibatch indices, flow noise x0, flow times t.
    pub rng: [RngStream; 3],
    /// The minibatch's points, energies and conditions, by indices drawn inline.
    gather: Gather,
    pairs: FlowPairs,
    weights: EnergyWeights,
    pass: VelocityPass,
    loss: SquaredError,
    steps: u64,
    copies: usize,
    /// Batch buffers, kept alive for the bind groups that use them.
    _buffers: Vec<GpuBuffer>,
}

impl EfmTrainer {
    /// Binds a trainer of `net` to `table`; `ring_len` losses are kept between reads.
    pub fn new(
        gpu: &Gpu,
        net: &VelocityNet,
        table: EfmTable,
        config: EfmConfig,
        seed: u64,
        ring_len: usize,
    ) -> Result<Self> {
        let (batch, dim, cond_dim) = (config.batch, net.spec.dim, net.spec.cond_dim);
        let copies = net.copies();
        ensure!(batch > 0, "the batch size must be at least 1");
        ensure!(table.len > 0, "there are no points to train on");
        ensure!(table.points.len >= table.len * dim, "the point table is shorter than {} rows", table.len);
        ensure!(table.energies.len >= table.len, "the energy table is shorter than {} rows", table.len);
        ensure!(config.beta.is_finite(), "beta must be a finite number");
        let group = if config.group == 0 { batch } else { config.group };
        ensure!(batch.is_multiple_of(group), "the batch ({batch}) must be a whole number of groups of {group}");
        ensure!(cond_dim == 0 || table.cond.is_some(), "a conditional network needs conditioning rows");

        // Every batch buffer holds one batch per copy, copy after copy.
        let rows = copies * batch;
        let x1 = GpuBuffer::zeros(gpu, "minibatch x1", rows * dim)?;
        let energies = GpuBuffer::zeros(gpu, "minibatch energies", rows)?;
        let cond = GpuBuffer::zeros(gpu, "minibatch conditions", rows * cond_dim.max(1))?;
        let x_t = GpuBuffer::zeros(gpu, "x_t", rows * dim)?;
        let t = GpuBuffer::zeros(gpu, "t", rows)?;
        let target = GpuBuffer::zeros(gpu, "target velocity", rows * dim)?;
        let weights = GpuBuffer::zeros(gpu, "energy weights", rows)?;
        let losses = GpuBuffer::zeros(gpu, "losses", ring_len.max(1) * copies)?;

        let pass = VelocityPass::new(gpu, net, &x_t, &t, &cond, batch, 1, true, true)?;
        let grad = pass.output_grad().expect("a training pass has an output gradient");
        let shared = |src, out, width| GatherTable { src, out, width, per_copy: false };
        let mut tables = vec![shared(table.points, &x1, dim), shared(table.energies, &energies, 1)];
        if let Some(c) = table.cond.filter(|_| cond_dim > 0) {
            tables.push(shared(c, &cond, cond_dim));
        }
        Ok(Self {
            gather: Gather::new(gpu, &tables, table.len)?,
            pairs: FlowPairs::new(gpu, &x1, &x_t, &t, &target)?,
            weights: EnergyWeights::new(gpu, &energies, &weights)?,
            loss: SquaredError::new(gpu, pass.output(), &target, Some(&weights), grad, &losses)?,
            adam: Adam::for_copies(gpu, net.params(), net.grads(), config.adam, copies)?,
            rng: [
                RngStream::new(seed, streams::MINIBATCH),
                RngStream::new(seed, streams::FLOW_NOISE),
                RngStream::new(seed, streams::FLOW_TIME),
            ],
            pass,
            config,
            losses,
            steps: 0,
            copies,
            _buffers: vec![x1, energies, cond, x_t, t, target, weights],
        })
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records one training step; copy c's loss goes to `losses[slot × copies + c]`, slot
    /// `steps % ring_len`.
    pub fn record_step(&mut self, rec: &mut Recorder, net: &VelocityNet) {
        let (batch, dim, copies) = (self.config.batch, net.spec.dim, self.copies);
        let rows = copies * batch;
        let [index_rng, noise_rng, time_rng] = &mut self.rng;
        self.gather.record(rec, index_rng.next_draw(), copies, batch);
        self.pairs.record_copies(rec, copies, batch, dim, noise_rng, time_rng);
        let group = if self.config.group == 0 { batch } else { self.config.group };
        // Each group's weights sum to group/batch, so each copy's sum to 1.
        self.weights.record(rec, rows / group, group, -self.config.beta, group as f32 / batch as f32);
        self.pass.record_forward(rec, net, batch, Default::default());
        // Each copy's loss, summed over its batch, into its slot of the ring.
        let slot = (self.steps % (self.losses.len / copies) as u64) as usize;
        let loss = SquaredErrorParams {
            has_weights: 1,
            scale: 1.0,
            block_rows: batch as u32,
            loss_off: (slot * copies) as u32,
            ..Default::default()
        };
        self.loss.record(rec, rows, dim, loss);
        self.pass.record_backward(rec, net, batch, false);
        self.adam.record_step(rec);
        self.steps += 1;
    }
}
