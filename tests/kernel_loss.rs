//! The weighted squared-error kernel against its CPU twin.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::loss::{SquaredError, SquaredErrorParams};
use qipo::reference;
use qipo::selftest::loss;

#[test]
fn weighted_squared_error_matches_reference() {
    for (rows, cols) in [(1usize, 1usize), (7, 3), (33, 1), (257, 6), (300, 17)] {
        for weighted in [false, true] {
            let seed = (rows * 100 + cols) as u64;
            // Blocks of an odd size, the last one shorter.
            let block = rows.div_ceil(3);
            let case = loss::Case { rows, cols, weighted, scale: 1.0 / rows as f32, block, seed, tolerance: 1e-5 };
            let check = loss::check(gpu(), &case).unwrap();
            assert!(check.passed, "{case:?}: {check}");
        }
    }
}

/// Blocks of predictions sharing goals, as the twin heads of each seed share its TD targets:
/// block b reads goal block b / share. Each block must match the CPU twin on its own goals,
/// and its loss sum, mean prediction and (first of its goal block) mean goal land in stats.
#[test]
fn prediction_blocks_sharing_goals_match_reference() {
    let gpu = gpu();
    let (block, cols) = (7usize, 3usize);
    for (blocks, share) in [(6usize, 2usize), (5, 2), (3, 3), (4, 1)] {
        let goal_blocks = blocks.div_ceil(share);
        let rows = blocks * block;
        let pred = random(40 + blocks as u64, rows * cols, 2.0);
        let goal = random(50 + blocks as u64, goal_blocks * block * cols, 2.0);
        let scale = 1.0 / block as f32;
        let pred_buf = GpuBuffer::from_slice(gpu, "pred", &pred).unwrap();
        let goal_buf = GpuBuffer::from_slice(gpu, "goal", &goal).unwrap();
        let grad_buf = GpuBuffer::zeros(gpu, "grad", rows * cols).unwrap();
        // Loss sums at 1, mean predictions after them, mean goals after those.
        let (loss_off, pred_mean_off) = (1, 1 + blocks);
        let goal_mean_off = pred_mean_off + blocks;
        let stats_buf = GpuBuffer::zeros(gpu, "stats", goal_mean_off + goal_blocks).unwrap();
        let op = SquaredError::new(gpu, &pred_buf, &goal_buf, None, &grad_buf, &stats_buf).unwrap();
        let params = SquaredErrorParams {
            scale,
            block_rows: block as u32,
            target_block: block as u32,
            target_share: share as u32,
            loss_off: loss_off as u32,
            has_means: 1,
            pred_mean_off: pred_mean_off as u32,
            goal_mean_off: goal_mean_off as u32,
            ..Default::default()
        };
        let mut rec = Recorder::new(gpu);
        op.record(&mut rec, rows, cols, params);
        rec.submit_and_wait().unwrap();
        let (stats, grad) = (stats_buf.read::<f32>(gpu).unwrap(), grad_buf.read::<f32>(gpu).unwrap());
        for b in 0..blocks {
            let span = block * cols;
            let own_goal = &goal[b / share * span..][..span];
            let own_pred = &pred[b * span..][..span];
            let (loss_rows, grad_ref) =
                reference::loss::weighted_squared_error(own_pred, own_goal, None, block, cols, scale);
            let what = format!("{blocks} blocks sharing {share}: block {b}");
            assert_close(
                &format!("{what} loss"),
                &stats[loss_off + b..][..1],
                &reference::loss::block_sums(&loss_rows, block),
                1e-5,
            );
            assert_close(&format!("{what} grad"), &grad[b * span..][..span], &grad_ref, 1e-5);
            // The mean over rows of each row's sum, of the predictions and of the goals.
            let row_mean = |v: &[f32]| v.iter().sum::<f32>() / block as f32;
            assert_close(
                &format!("{what} mean prediction"),
                &stats[pred_mean_off + b..][..1],
                &[row_mean(own_pred)],
                1e-5,
            );
            if b % share == 0 {
                let goal_mean = &stats[goal_mean_off + b / share..][..1];
                assert_close(&format!("{what} mean goal"), goal_mean, &[row_mean(own_goal)], 1e-5);
            }
        }
    }
}

#[test]
fn squared_error_gradient_matches_finite_differences() {
    let (rows, cols) = (5, 3);
    let pred = random(1, rows * cols, 1.0);
    let target = random(2, rows * cols, 1.0);
    let weights = [0.5, 1.0, 2.0, 0.0, 3.0];
    let loss = |p: &[f32]| -> f64 {
        let (l, _) = reference::loss::weighted_squared_error(p, &target, Some(&weights), rows, cols, 0.2);
        l.iter().map(|&x| x as f64).sum()
    };
    let (_, grad) = reference::loss::weighted_squared_error(&pred, &target, Some(&weights), rows, cols, 0.2);
    for i in 0..pred.len() {
        let h = 1e-2;
        let (mut up, mut down) = (pred.clone(), pred.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
        assert!((numeric - grad[i] as f64).abs() < 1e-3, "d/dpred[{i}]: {} vs {numeric}", grad[i]);
    }
}
