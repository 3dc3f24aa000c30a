//! The critic's kernels (`shaders/td_target.wgsl`, `shaders/expectile.wgsl`) against their
//! CPU twins: the in-support softmax TD target and the expectile loss.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::critic::{Expectile, ExpectileParams, TdTarget, TdTargetParams, EXPECTILE_LOSS, SOFTMAX_TD_TARGET};
use crate::reference;

/// How the twin heads lie in GPU memory.
#[derive(Clone, Copy, Debug)]
pub enum Heads {
    /// One buffer per head, each at an offset.
    Separate,
    /// One buffer, head 2's block after head 1's with a gap.
    Stacked,
    /// One buffer whose rows hold both heads side by side (a network with two outputs).
    Interleaved,
}

/// TD targets y and soft values v of `batch` transitions with `support` actions each: Q in
/// [-50, 50), rewards in [-3, 3), about one in four transitions terminal.
#[derive(Clone, Copy, Debug)]
pub struct TdCase {
    pub batch: usize,
    pub support: usize,
    pub heads: Heads,
    pub alpha: f32,
    pub gamma: f32,
    pub seed: u64,
    /// Relative to 1 + |cpu|.
    pub tolerance: f32,
}

/// `blocks` blocks of `rows` predictions in [-5, 5), one per seed, each regressing onto the
/// smaller of its two target heads, which lie in one buffer as the twin critic writes them:
/// block c's Q1, then its Q2. The loss is summed per block, scaled by 1 / rows.
#[derive(Clone, Copy, Debug)]
pub struct ExpectileCase {
    pub rows: usize,
    pub blocks: usize,
    pub expectile: f32,
    pub seed: u64,
    /// For the block losses, relative to 1 + |cpu|.
    pub loss_tolerance: f32,
    /// For the gradient, relative to 1 + |cpu|.
    pub tolerance: f32,
}

/// Random 0/1 done flags, about one in four set.
fn dones(seed: u64, n: usize) -> Vec<f32> {
    values(seed, n, 1.0).iter().map(|&x| if x > 0.5 { 1.0 } else { 0.0 }).collect()
}

/// Runs the case with every input at an offset, y and v in one output buffer.
pub fn check_td_target(gpu: &Gpu, case: &TdCase) -> Result<Check> {
    let TdCase { batch, support, heads, alpha, gamma, seed, tolerance } = *case;
    let n = batch * support;
    let q1 = values(seed, n, 50.0);
    let q2 = values(seed + 1, n, 50.0);
    let rewards = values(seed + 2, batch, 3.0);
    let done = dones(seed + 3, batch);
    let (y_ref, v_ref) = reference::critic::td_target(&q1, &q2, &rewards, &done, support, alpha, gamma);
    let (reward_off, done_off, y_off, value_off) = (1, 2, 3, 5 + batch);
    let reward_buf = GpuBuffer::from_slice(gpu, "rewards", &[vec![0.0; 1], rewards].concat())?;
    let done_buf = GpuBuffer::from_slice(gpu, "dones", &[vec![0.0; 2], done].concat())?;
    let out = GpuBuffer::zeros(gpu, "td", value_off + batch + 1)?;
    let (q1_buf, q2_buf, q1_off, q2_off, q_stride) = match heads {
        Heads::Separate => {
            let a = GpuBuffer::from_slice(gpu, "q1", &[vec![0.0; 4], q1].concat())?;
            let b = GpuBuffer::from_slice(gpu, "q2", &[vec![0.0; 7], q2].concat())?;
            (a, Some(b), 4, 7, 1)
        }
        Heads::Stacked => {
            let all = [vec![0.0; 3], q1, vec![0.0; 2], q2].concat();
            (GpuBuffer::from_slice(gpu, "q", &all)?, None, 3, 5 + n, 1)
        }
        Heads::Interleaved => {
            let rows: Vec<f32> = q1.iter().zip(&q2).flat_map(|(&a, &b)| [a, b]).collect();
            (GpuBuffer::from_slice(gpu, "q", &[vec![0.0; 1], rows].concat())?, None, 1, 2, 2)
        }
    };
    let op = TdTarget::new(gpu, &q1_buf, q2_buf.as_ref(), &reward_buf, &done_buf, &out)?;
    let mut rec = Recorder::new(gpu);
    let params = TdTargetParams {
        batch: batch as u32,
        support: support as u32,
        q1_off,
        q2_off: q2_off as u32,
        q_stride,
        reward_off,
        done_off,
        y_off: y_off as u32,
        value_off: value_off as u32,
        has_value: 1,
        alpha,
        gamma,
        ..Default::default()
    };
    op.record_with(&mut rec, params);
    rec.submit_and_wait()?;
    let got = out.read::<f32>(gpu)?;
    let got = [&got[y_off..y_off + batch], &got[value_off..value_off + batch]].concat();
    Ok(Check::close("soft TD target (y, v)", &[SOFTMAX_TD_TARGET], &got, &[y_ref, v_ref].concat(), tolerance))
}

/// Runs the case with every buffer at an offset.
pub fn check_expectile(gpu: &Gpu, case: &ExpectileCase) -> Result<Check> {
    let ExpectileCase { rows, blocks, expectile, seed, loss_tolerance, tolerance } = *case;
    let all = blocks * rows;
    let pred = values(seed, all, 5.0);
    let heads = values(seed + 1, 2 * all, 5.0);
    let scale = 1.0 / rows as f32;
    // Block c's heads: rows values at 2c·rows, then rows more.
    let goal: Vec<f32> = (0..all)
        .map(|i| {
            let (c, r) = (i / rows, i % rows);
            heads[2 * c * rows + r].min(heads[(2 * c + 1) * rows + r])
        })
        .collect();
    let (loss_rows, grad_ref) = reference::critic::expectile_loss(&pred, &goal, expectile, scale);
    let loss_ref = reference::loss::block_sums(&loss_rows, rows);

    let pred_buf = GpuBuffer::from_slice(gpu, "pred", &[vec![0.0; 2], pred].concat())?;
    let heads_buf = GpuBuffer::from_slice(gpu, "heads", &[vec![0.0; 3], heads].concat())?;
    let grad_buf = GpuBuffer::zeros(gpu, "grad", all + 4)?;
    let loss_buf = GpuBuffer::zeros(gpu, "loss", blocks + 1)?;
    let op = Expectile::new(gpu, &pred_buf, &heads_buf, &grad_buf, &loss_buf)?;
    let mut rec = Recorder::new(gpu);
    let params = ExpectileParams {
        rows: all as u32,
        block_rows: rows as u32,
        pred_off: 2,
        q1_off: 3,
        q2_off: (3 + rows) as u32,
        q_copy_stride: (2 * rows) as u32,
        grad_off: 4,
        loss_off: 1,
        expectile,
        scale,
    };
    op.record_with(&mut rec, params);
    rec.submit_and_wait()?;
    let name = "expectile loss and gradient";
    let parts = [
        Check::close(name, &[EXPECTILE_LOSS], &loss_buf.read::<f32>(gpu)?[1..], &loss_ref, loss_tolerance),
        Check::close(name, &[EXPECTILE_LOSS], &grad_buf.read::<f32>(gpu)?[4..], &grad_ref, tolerance),
    ];
    Ok(Check::all(name, &[EXPECTILE_LOSS], &parts))
}
