//! One step of weighted flow matching on a batch the caller has gathered, the core that
//! energy-weighted flow matching ([`super::efm`], behaviour pretraining at beta = 0) and
//! policy improvement ([`crate::rl::improve`]) share, as `weighted_flow_step` shares it on the
//! CPU (src/reference/qipo.rs). The two differ only in where x1, the weights and the
//! conditioning come from. Given those, one step is
//!
//! ```text
//! x0 ~ N(0, I), t ~ U(0, 1), x_t = (1 - t)·x0 + t·x1            (shaders/flow_pairs.wgsl)
//! L  = scale · Σ_r w_r ‖v(x_t,r, t_r, cond[r / repeat]) - (x1_r - x0_r)‖²
//! ```
//!
//! then the backward pass and an Adam step. Every buffer holds one block of rows per copy
//! (seed); each copy's loss goes into its slot of a ring that the caller reads between
//! submits.

use anyhow::Result;

use super::velocity::{Purpose, VelocityInputs, VelocityNet, VelocityPass};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::adam::Adam;
use crate::kernels::flow_pairs::FlowPairs;
use crate::kernels::loss::{SquaredError, SquaredErrorParams};
use crate::ops::AdamConfig;
use crate::random::RngStream;

/// The batch a step reads, one block per copy: `rows` data points x1 (rows×dim), their
/// weights (rows) and a conditioning row for every `repeat` rows.
pub struct FlowBatch<'a> {
    pub x1: &'a GpuBuffer,
    pub weights: &'a GpuBuffer,
    pub cond: &'a GpuBuffer,
    pub rows: usize,
    pub repeat: usize,
}

pub struct WeightedFlowStep {
    pub adam: Adam,
    /// Per-step losses, one per copy: step k's are at slot `k % ring_len`, `copies` values
    /// from `slot × copies` on.
    pub losses: GpuBuffer,
    pairs: FlowPairs,
    pass: VelocityPass,
    loss: SquaredError,
    rows: usize,
    copies: usize,
    ring_len: usize,
}

impl WeightedFlowStep {
    /// Binds a step of `net` to `batch`; `ring_len` steps' losses are kept between reads.
    pub fn new(gpu: &Gpu, net: &VelocityNet, batch: FlowBatch, adam: AdamConfig, ring_len: usize) -> Result<Self> {
        let (copies, dim) = (net.copies(), net.spec.dim);
        let all = copies * batch.rows;
        let x_t = GpuBuffer::zeros(gpu, "x_t", all * dim)?;
        let t = GpuBuffer::zeros(gpu, "t", all)?;
        let target = GpuBuffer::zeros(gpu, "target velocity", all * dim)?;
        let ring_len = ring_len.max(1);
        let losses = GpuBuffer::zeros(gpu, "losses", ring_len * copies)?;
        let inputs = VelocityInputs { x: &x_t, t: &t, cond: batch.cond, repeat: batch.repeat };
        let pass = VelocityPass::new(gpu, net, inputs, batch.rows, Purpose::Training)?;
        let grad = pass.output_grad().expect("a training pass has an output gradient");
        Ok(Self {
            adam: Adam::for_copies(gpu, net.params(), net.grads(), adam, copies)?,
            pairs: FlowPairs::new(gpu, batch.x1, &x_t, &t, &target)?.with_copies_per_seed(net.copies_per_seed),
            loss: SquaredError::new(gpu, pass.output(), &target, Some(batch.weights), grad, &losses)?,
            pass,
            losses,
            rows: batch.rows,
            copies,
            ring_len,
        })
    }

    /// Records step number `step` (its losses go to slot `step % ring_len`): pairs with one
    /// draw from each stream, the network, the loss times `scale`, backward and Adam.
    pub fn record(
        &mut self,
        rec: &mut Recorder,
        net: &VelocityNet,
        step: u64,
        scale: f32,
        noise: &mut RngStream,
        time: &mut RngStream,
    ) {
        let (rows, copies, dim) = (self.rows, self.copies, net.spec.dim);
        self.pairs.record_copies(rec, copies, rows, dim, noise, time);
        self.pass.record_forward(rec, net, rows, Default::default());
        // Each copy's loss, summed over its rows, into its slot of the ring.
        let slot = (step % self.ring_len as u64) as usize;
        let params = SquaredErrorParams {
            scale,
            block_rows: rows as u32,
            loss_off: (slot * copies) as u32,
            ..Default::default()
        };
        self.loss.record(rec, copies * rows, dim, params);
        self.pass.record_backward(rec, net, rows, false);
        self.adam.record_step(rec);
    }
}
