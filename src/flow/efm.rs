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

use super::spec::EfmConfig;
use super::velocity::VelocityNet;
use super::weighted::{FlowBatch, WeightedFlowStep};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::energy_weights::EnergyWeights;
use crate::kernels::gather::{Gather, GatherTable};
use crate::random::{streams, RngStream};

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
    /// The random streams: minibatch indices, flow noise x0, flow times t.
    pub rng: [RngStream; 3],
    /// The pairs, loss, backward pass and Adam, on the batch gathered here.
    pub flow: WeightedFlowStep,
    /// The minibatch's points, energies and conditions, by indices drawn inline.
    gather: Gather,
    weights: EnergyWeights,
    steps: u64,
    copies: usize,
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
        let weights = GpuBuffer::zeros(gpu, "energy weights", rows)?;
        let shared = |src, out, width| GatherTable { src, out, width, per_copy: false };
        let mut tables = vec![shared(table.points, &x1, dim), shared(table.energies, &energies, 1)];
        if let Some(c) = table.cond.filter(|_| cond_dim > 0) {
            tables.push(shared(c, &cond, cond_dim));
        }
        let batch_rows = FlowBatch { x1: &x1, weights: &weights, cond: &cond, rows: batch, repeat: 1 };
        Ok(Self {
            gather: Gather::new(gpu, &tables, table.len)?,
            weights: EnergyWeights::new(gpu, &energies, &weights)?,
            flow: WeightedFlowStep::new(gpu, net, batch_rows, config.adam, ring_len)?,
            rng: [
                RngStream::new(seed, streams::MINIBATCH),
                RngStream::new(seed, streams::FLOW_NOISE),
                RngStream::new(seed, streams::FLOW_TIME),
            ],
            config,
            steps: 0,
            copies,
        })
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records one training step: a minibatch and its weights, softmax(-beta·E) per group,
    /// then the weighted flow-matching step; copy c's loss goes to `flow.losses[slot × copies
    /// + c]`, slot `steps % ring_len`.
    pub fn record_step(&mut self, rec: &mut Recorder, net: &VelocityNet) {
        let (batch, copies) = (self.config.batch, self.copies);
        let [index_rng, noise_rng, time_rng] = &mut self.rng;
        self.gather.record(rec, index_rng.next_draw(), copies, batch);
        let group = if self.config.group == 0 { batch } else { self.config.group };
        // Each group's weights sum to group/batch, so each copy's sum to 1.
        self.weights.record(rec, copies * batch / group, group, -self.config.beta, group as f32 / batch as f32);
        self.flow.record(rec, net, self.steps, 1.0, noise_rng, time_rng);
        self.steps += 1;
    }
}
