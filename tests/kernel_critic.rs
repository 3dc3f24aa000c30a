//! The critic's kernels against their CPU twins: the in-support softmax TD target, Polyak
//! averaging and the expectile loss.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::critic::{Expectile, TdTarget, TdTargetParams};
use qipo::reference;
use qipo::selftest::critic::{check_expectile, check_td_target, ExpectileCase, Heads, TdCase};

const BATCHES: [usize; 4] = [1, 7, 33, 257];
const SUPPORTS: [usize; 4] = [1, 3, 16, 17];

/// Random 0/1 done flags, about one in four set.
fn dones(seed: u64, n: usize) -> Vec<f32> {
    random(seed, n, 1.0).iter().map(|&x| if x > 0.5 { 1.0 } else { 0.0 }).collect()
}

#[test]
fn td_target_matches_reference() {
    for batch in BATCHES {
        for support in SUPPORTS {
            for heads in [Heads::Separate, Heads::Stacked, Heads::Interleaved] {
                for alpha in [0.0f32, 0.3, 20.0, -2.0] {
                    // Offsets everywhere; y and v share the output buffer.
                    let seed = (batch * 1000 + support) as u64;
                    let case = TdCase { batch, support, heads, alpha, gamma: 0.99, seed, tolerance: 1e-5 };
                    let check = check_td_target(gpu(), &case).unwrap();
                    assert!(check.passed, "{case:?}: {check}");
                }
            }
        }
    }
}

/// Three seeds' minibatches in one dispatch, laid out as the multi-seed critic lays them
/// out: each seed's two heads one after the other, `q_copy_stride` apart per seed. Each
/// seed's targets must be the CPU twin's on its own heads.
#[test]
fn td_targets_of_several_seeds_match_reference() {
    let gpu = gpu();
    let (seeds, batch, support, gap) = (3usize, 7usize, 5usize, 2usize);
    let n = batch * support;
    // Per seed: head 1, head 2, then a gap of junk values.
    let stride = 2 * n + gap;
    let q = random(11, seeds * stride, 40.0);
    let rewards = random(12, seeds * batch, 3.0);
    let done = dones(13, seeds * batch);
    let q_buf = GpuBuffer::from_slice(gpu, "q", &q).unwrap();
    let reward_buf = GpuBuffer::from_slice(gpu, "rewards", &rewards).unwrap();
    let done_buf = GpuBuffer::from_slice(gpu, "dones", &done).unwrap();
    let out = GpuBuffer::zeros(gpu, "td", 2 * seeds * batch).unwrap();
    let op = TdTarget::new(gpu, &q_buf, None, &reward_buf, &done_buf, &out).unwrap();
    let (alpha, gamma) = (1.5f32, 0.9f32);
    let params = TdTargetParams {
        batch: (seeds * batch) as u32,
        support: support as u32,
        q1_off: 0,
        q2_off: n as u32,
        q_stride: 1,
        value_off: (seeds * batch) as u32,
        has_value: 1,
        alpha,
        gamma,
        copy_rows: batch as u32,
        q_copy_stride: stride as u32,
        ..Default::default()
    };
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, params);
    rec.submit_and_wait().unwrap();
    let got = out.read::<f32>(gpu).unwrap();
    for c in 0..seeds {
        let own = &q[c * stride..];
        let rows = c * batch..(c + 1) * batch;
        let (y_ref, v_ref) = reference::critic::td_target(
            &own[..n],
            &own[n..2 * n],
            &rewards[rows.clone()],
            &done[rows.clone()],
            support,
            alpha,
            gamma,
        );
        assert_close(&format!("seed {c} y"), &got[rows.clone()], &y_ref, 1e-5);
        let values = seeds * batch + rows.start..seeds * batch + rows.end;
        assert_close(&format!("seed {c} v"), &got[values], &v_ref, 1e-5);
    }
}

#[test]
fn td_target_common_case() {
    // record(): every buffer from element 0, head 2 right after head 1 when they share one.
    let gpu = gpu();
    let (batch, support, alpha, gamma) = (33, 17, 1.5, 0.9);
    let n = batch * support;
    let q1 = random(11, n, 10.0);
    let q2 = random(12, n, 10.0);
    let rewards = random(13, batch, 2.0);
    let done = dones(14, batch);
    let (y_ref, _) = reference::critic::td_target(&q1, &q2, &rewards, &done, support, alpha, gamma);
    let reward_buf = GpuBuffer::from_slice(gpu, "rewards", &rewards).unwrap();
    let done_buf = GpuBuffer::from_slice(gpu, "dones", &done).unwrap();

    let shared = GpuBuffer::from_slice(gpu, "q", &[q1.clone(), q2.clone()].concat()).unwrap();
    let y_shared = GpuBuffer::zeros(gpu, "y", batch).unwrap();
    let op = TdTarget::new(gpu, &shared, None, &reward_buf, &done_buf, &y_shared).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, batch, support, alpha, gamma);
    rec.submit_and_wait().unwrap();
    assert_close("one buffer", &y_shared.read::<f32>(gpu).unwrap(), &y_ref, 1e-5);

    let q1_buf = GpuBuffer::from_slice(gpu, "q1", &q1).unwrap();
    let q2_buf = GpuBuffer::from_slice(gpu, "q2", &q2).unwrap();
    let y_split = GpuBuffer::zeros(gpu, "y", batch).unwrap();
    let op = TdTarget::new(gpu, &q1_buf, Some(&q2_buf), &reward_buf, &done_buf, &y_split).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, batch, support, alpha, gamma);
    rec.submit_and_wait().unwrap();
    assert_close("two buffers", &y_split.read::<f32>(gpu).unwrap(), &y_ref, 1e-5);
}

#[test]
fn td_target_softmax_limits() {
    // One row of four support actions; the twin minimum is [1, -2, 4, 3].
    let q1 = [1.0f32, -2.0, 9.0, 3.0];
    let q2 = [5.0f32, 0.0, 4.0, 3.5];
    let td = |alpha: f32, reward: f32, done: f32| {
        let (y, v) = reference::critic::td_target(&q1, &q2, &[reward], &[done], 4, alpha, 0.5);
        (y[0], v[0])
    };
    // alpha = 0: the plain mean of the pessimistic values.
    assert_eq!(td(0.0, 0.0, 0.0).1, 1.5);
    // Large alpha: the in-support max, and a very negative one the min, without overflow.
    assert_eq!(td(1e30, 0.0, 0.0).1, 4.0);
    assert_eq!(td(-1e30, 0.0, 0.0).1, -2.0);
    assert!((td(50.0, 0.0, 0.0).1 - 4.0).abs() < 1e-6);
    // The soft value grows with alpha.
    let values: Vec<f32> = [0.0, 0.5, 1.0, 2.0, 5.0].iter().map(|&a| td(a, 0.0, 0.0).1).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "soft values not increasing in alpha: {values:?}");
    // Terminal transitions keep only the reward.
    assert_eq!(td(1.0, 2.5, 1.0).0, 2.5);
    assert_eq!(td(0.0, 2.5, 0.0).0, 2.5 + 0.5 * 1.5);

    // The GPU agrees exactly in the limits, huge Q-values included.
    let gpu = gpu();
    let big = [3e37f32, -3e37, 1e37, 0.0];
    let cases = [(q1, q2, 1e30, 4.0f32), (q1, q2, -1e30, -2.0), (big, big, 1e30, 3e37), (big, big, -1e30, -3e37)];
    for (head1, head2, alpha, want) in cases {
        let q_buf = GpuBuffer::from_slice(gpu, "q", &[head1, head2].concat()).unwrap();
        let reward = GpuBuffer::from_slice(gpu, "reward", &[0.0f32]).unwrap();
        let done = GpuBuffer::from_slice(gpu, "done", &[0.0f32]).unwrap();
        let out = GpuBuffer::zeros(gpu, "td", 2).unwrap();
        let op = TdTarget::new(gpu, &q_buf, None, &reward, &done, &out).unwrap();
        let mut rec = Recorder::new(gpu);
        let params = TdTargetParams {
            batch: 1,
            support: 4,
            q2_off: 4,
            q_stride: 1,
            value_off: 1,
            has_value: 1,
            alpha,
            gamma: 1.0,
            ..Default::default()
        };
        op.record_with(&mut rec, params);
        rec.submit_and_wait().unwrap();
        assert_eq!(out.read::<f32>(gpu).unwrap(), vec![want, want], "q {head1:?}, {head2:?} alpha {alpha}");
    }
}

/// Blocks of rows (one per seed), each regressing onto the smaller of its two target heads,
/// which lie in one buffer as the twin critic writes them: seed c's Q1 block, then its Q2.
#[test]
fn expectile_matches_reference() {
    for rows in BATCHES {
        for (blocks, expectile) in [(1usize, 0.5f32), (3, 0.7), (2, 0.9)] {
            let seed = (rows * 10 + blocks) as u64;
            let case = ExpectileCase { rows, blocks, expectile, seed, loss_tolerance: 1e-5, tolerance: 1e-6 };
            let check = check_expectile(gpu(), &case).unwrap();
            assert!(check.passed, "{case:?}: {check}");
        }
    }
}

#[test]
fn expectile_common_case() {
    let gpu = gpu();
    let rows = 257;
    let pred = random(21, rows, 3.0);
    let target = random(22, rows, 3.0);
    let (loss_rows, grad_ref) = reference::critic::expectile_loss(&pred, &target, 0.7, 1.0);
    let pred_buf = GpuBuffer::from_slice(gpu, "pred", &pred).unwrap();
    let target_buf = GpuBuffer::from_slice(gpu, "target", &target).unwrap();
    let grad_buf = GpuBuffer::zeros(gpu, "grad", rows).unwrap();
    let loss_buf = GpuBuffer::zeros(gpu, "loss", 1).unwrap();
    let op = Expectile::new(gpu, &pred_buf, &target_buf, &grad_buf, &loss_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, rows, 0.7, 1.0);
    rec.submit_and_wait().unwrap();
    assert_close("loss", &loss_buf.read::<f32>(gpu).unwrap(), &reference::loss::block_sums(&loss_rows, rows), 1e-5);
    assert_close("grad", &grad_buf.read::<f32>(gpu).unwrap(), &grad_ref, 1e-6);
}

#[test]
fn expectile_weighs_under_and_over_estimates_asymmetrically() {
    // A prediction 1 below its target costs tau, one 1 above costs 1 - tau.
    let (loss, grad) = reference::critic::expectile_loss(&[0.0, 2.0], &[1.0, 1.0], 0.7, 1.0);
    assert!((loss[0] - 0.7).abs() < 1e-6 && (loss[1] - 0.3).abs() < 1e-6, "{loss:?}");
    assert!((grad[0] + 1.4).abs() < 1e-6 && (grad[1] - 0.6).abs() < 1e-6, "{grad:?}");
    // tau = 0.5 is half the squared error.
    let pred = random(31, 9, 2.0);
    let target = random(32, 9, 2.0);
    let (loss, _) = reference::critic::expectile_loss(&pred, &target, 0.5, 1.0);
    for ((l, p), t) in loss.iter().zip(&pred).zip(&target) {
        assert!((l - 0.5 * (t - p) * (t - p)).abs() < 1e-6);
    }
}

#[test]
fn expectile_gradient_matches_finite_differences() {
    let rows = 40;
    let pred = random(41, rows, 2.0);
    let target = random(42, rows, 2.0);
    let (expectile, scale) = (0.8, 0.3);
    let loss = |p: &[f32]| -> f64 {
        let (l, _) = reference::critic::expectile_loss(p, &target, expectile, scale);
        l.iter().map(|&x| x as f64).sum()
    };
    let (_, grad) = reference::critic::expectile_loss(&pred, &target, expectile, scale);
    let h = 1e-2;
    let mut checked = 0;
    for i in 0..rows {
        // The loss's curvature jumps at u = 0, so a difference straddling it is off by O(h).
        if (target[i] - pred[i]).abs() < 2.0 * h {
            continue;
        }
        let (mut up, mut down) = (pred.clone(), pred.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
        assert!((numeric - grad[i] as f64).abs() < 1e-3, "d/dpred[{i}]: {} vs {numeric}", grad[i]);
        checked += 1;
    }
    assert!(checked > rows / 2, "only {checked} rows checked");
}
