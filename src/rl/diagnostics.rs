//! What a run measures to show whether policy improvement helps or hurts, beyond its losses:
//!
//! - the critic's view of actions off the data: at a fixed probe set of dataset states, the
//!   mean Q of the dataset's actions against uniformly random ones, and how often the data's
//!   action is rated higher (a critic that rates random actions as high as the data's gives
//!   the energy weights nothing that holds the policy near the data);
//! - the drift of the policy's samples away from the data: the root-mean-square distance of
//!   every support action to the dataset action at the same state, and the share of action
//!   components at the bounds (clipped samples are a sign of guidance pushing off the data).
//!
//! Both read back only a probe set of states (about a thousand, spread over the dataset),
//! so they cost the same at any dataset size, and the critic probe runs on the CPU twin of
//! the MLP.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::critic::TwinCritic;
use super::metrics::{CriticProbe, SupportDrift};
use crate::data::GpuDataset;
use crate::gpu::{Gpu, GpuBuffer};
use crate::ops::ReduceOp;
use crate::reference::mlp;
use crate::reference::reduce::reduce;

/// Probe states are read in this many contiguous blocks spread evenly over the dataset.
const PROBE_BLOCKS: usize = 16;
/// States per probe block.
const PROBE_BLOCK_STATES: usize = 64;
/// A sample component this close to ±1 counts as at the bound.
const AT_BOUND: f32 = 0.999;

/// The first state of every probe block and the block's length: evenly spaced blocks over
/// `len` states (all of them when the dataset is smaller than the probe).
pub fn probe_blocks(len: usize) -> Vec<(usize, usize)> {
    let block = PROBE_BLOCK_STATES.min(len);
    if len <= PROBE_BLOCKS * block {
        return vec![(0, len)];
    }
    (0..PROBE_BLOCKS).map(|b| (b * (len - block) / (PROBE_BLOCKS - 1), block)).collect()
}

/// `width` values per row for the rows of every probe block, from a buffer of `len` rows
/// starting at row `first_row`, concatenated block after block.
fn read_probe_rows(gpu: &Gpu, buffer: &GpuBuffer, first_row: usize, len: usize, width: usize) -> Result<Vec<f32>> {
    let mut rows = Vec::new();
    for (start, count) in probe_blocks(len) {
        rows.extend(buffer.read_range::<f32>(gpu, (first_row + start) * width, count * width)?);
    }
    Ok(rows)
}

/// Each seed's critic at the probe states: the mean of min(Q1, Q2) over the dataset's actions
/// (`q_probe_data`) and over uniformly random actions in [-1, 1] (`q_probe_random`), and the
/// share of states where the dataset's action is rated higher (`q_probe_data_wins`).
pub fn critic_probe(gpu: &Gpu, critic: &TwinCritic, data: &GpuDataset) -> Result<Vec<CriticProbe>> {
    let (obs, act) = (data.obs_dim, data.act_dim);
    let states = read_probe_rows(gpu, &data.observations, 0, data.len, obs)?;
    let actions = read_probe_rows(gpu, &data.actions, 0, data.len, act)?;
    let n = states.len() / obs;
    // The same random actions for every seed and run: a fixed stream, not the run's seed.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5150_726f_6265);
    let random: Vec<f32> = (0..n * act).map(|_| rng.random_range(-1.0f32..=1.0)).collect();
    let params: Vec<f32> = critic.online.params.read(gpu)?;
    let per_head = critic.spec.param_count();
    // The critic's input rows are [a, s].
    let rows = |a: &[f32]| -> Vec<f32> {
        a.chunks(act).zip(states.chunks(obs)).flat_map(|(a, s)| a.iter().chain(s)).copied().collect()
    };
    let (data_rows, random_rows) = (rows(&actions), rows(&random));
    let q = |head: usize, input: &[f32]| -> Vec<f32> {
        let weights = &params[head * per_head..(head + 1) * per_head];
        mlp::forward(&critic.spec, weights, input, n).pop().expect("an MLP has layers").1
    };
    let mut out = Vec::new();
    for c in 0..critic.seeds {
        let min_q = |input: &[f32]| -> Vec<f32> {
            q(2 * c, input).iter().zip(q(2 * c + 1, input)).map(|(x, y)| x.min(y)).collect()
        };
        let (q_data, q_random) = (min_q(&data_rows), min_q(&random_rows));
        let wins = q_data.iter().zip(&q_random).filter(|(d, r)| d > r).count();
        out.push(CriticProbe {
            q_probe_data: reduce(&q_data, ReduceOp::Mean),
            q_probe_random: reduce(&q_random, ReduceOp::Mean),
            q_probe_data_wins: wins as f64 / n.max(1) as f64,
        });
    }
    Ok(out)
}

/// Each seed's drift of its support actions at the probe states: `action_distance`, the
/// root-mean-square distance per component of the M sampled actions from the dataset action
/// of the same state, and `action_at_bound`, the share of sampled components at ±1.
/// `support` holds, per seed, `len` groups of M + 1 actions, the dataset action first.
pub fn support_drift(
    gpu: &Gpu,
    support: &GpuBuffer,
    seeds: usize,
    len: usize,
    m: usize,
    act: usize,
) -> Result<Vec<SupportDrift>> {
    let group = (m + 1) * act;
    (0..seeds)
        .map(|c| {
            let groups = read_probe_rows(gpu, support, c * len, len, group)?;
            Ok(drift_statistics(&groups, m, act))
        })
        .collect()
}

/// [`support_drift`]'s statistics of the groups of one seed.
pub fn drift_statistics(groups: &[f32], m: usize, act: usize) -> SupportDrift {
    let (mut squared, mut at_bound, mut count) = (0.0f64, 0usize, 0usize);
    for group in groups.chunks((m + 1) * act) {
        let (data, samples) = group.split_at(act);
        for sample in samples.chunks(act) {
            for (x, d) in sample.iter().zip(data) {
                squared += ((x - d) as f64).powi(2);
                at_bound += usize::from(x.abs() >= AT_BOUND);
                count += 1;
            }
        }
    }
    let count = count.max(1) as f64;
    SupportDrift { action_distance: (squared / count).sqrt(), action_at_bound: at_bound as f64 / count }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_blocks_spread_over_the_dataset_and_stay_inside_it() {
        assert_eq!(probe_blocks(100), [(0, 100)]);
        let blocks = probe_blocks(100_000);
        assert_eq!(blocks.len(), PROBE_BLOCKS);
        assert_eq!(blocks[0], (0, PROBE_BLOCK_STATES));
        assert_eq!(blocks.last().unwrap().0 + PROBE_BLOCK_STATES, 100_000);
        assert!(blocks.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
    }

    #[test]
    fn drift_measures_distance_to_the_dataset_action_and_clipped_components() {
        // Two states, M = 2, two action components: data action first in every group.
        let groups = [0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        let stats = drift_statistics(&groups, 2, 2);
        // Squared distances: 1, 1 (first state), 0, 0 (second), over 8 components.
        assert!((stats.action_distance - (2.0f64 / 8.0).sqrt()).abs() < 1e-12);
        assert!((stats.action_at_bound - 2.0 / 8.0).abs() < 1e-12);
    }
}
