//! CPU twins of the critic's kernels: the in-support softmax TD target
//! (shaders/td_target.wgsl), Polyak averaging (adam_polyak_step of shaders/adam.wgsl) and the
//! expectile loss (shaders/expectile.wgsl).

/// QGPO's soft TD target. `q1` and `q2` hold the target critic's twin heads as batch×M blocks
/// (row i, support action j at `i·support + j`); one reward and one done flag per row.
/// Returns (targets y, soft values v) with
/// `v_i = Σ_j softmax_j(alpha·q_ij)·q_ij`, `q_ij = min(q1_ij, q2_ij)` and
/// `y_i = r_i + gamma·(1 - done_i)·v_i`.
pub fn td_target(
    q1: &[f32],
    q2: &[f32],
    rewards: &[f32],
    dones: &[f32],
    support: usize,
    alpha: f32,
    gamma: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut targets = Vec::with_capacity(rewards.len());
    let mut values = Vec::with_capacity(rewards.len());
    for (i, (&reward, &done)) in rewards.iter().zip(dones).enumerate() {
        let row = i * support..(i + 1) * support;
        let q: Vec<f32> = q1[row.clone()].iter().zip(&q2[row]).map(|(&a, &b)| a.min(b)).collect();
        let v = soft_value(&q, alpha);
        targets.push(reward + gamma * (1.0 - done) * v);
        values.push(v);
    }
    (targets, values)
}

/// `Σ_j softmax_j(alpha·q_j)·q_j`, shifted by the value with the largest logit so that every
/// exponent is `alpha·(q_j - q_top) <= 0`.
fn soft_value(q: &[f32], alpha: f32) -> f32 {
    let q_top = q.iter().copied().reduce(|top, v| if alpha >= 0.0 { top.max(v) } else { top.min(v) });
    let q_top = q_top.unwrap_or(0.0);
    let (mut total, mut weighted) = (0.0f32, 0.0f32);
    for &v in q {
        let e = (alpha * (v - q_top)).exp();
        total += e;
        weighted += e * v;
    }
    weighted / total
}

/// `target ← tau·online + (1 - tau)·target`, element by element.
pub fn polyak(target: &mut [f32], online: &[f32], tau: f32) {
    for (t, &o) in target.iter_mut().zip(online) {
        *t = tau * o + (1.0 - tau) * *t;
    }
}

/// Returns (per-row losses, gradient with respect to `pred`) of IQL's expectile regression
/// `scale·|expectile - 1(u < 0)|·u²` with `u = target - pred`.
pub fn expectile_loss(pred: &[f32], target: &[f32], expectile: f32, scale: f32) -> (Vec<f32>, Vec<f32>) {
    pred.iter()
        .zip(target)
        .map(|(&p, &t)| {
            let u = t - p;
            let below = if u < 0.0 { 1.0 } else { 0.0 };
            let w = scale * (expectile - below).abs();
            (w * u * u, -2.0 * w * u)
        })
        .unzip()
}
