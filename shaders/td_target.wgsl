// QGPO's in-support softmax TD target, one invocation per transition i of a minibatch:
//     q_ij = min(q1_ij, q2_ij)                    the target critic's twin heads at (s'_i, a'_ij)
//     v_i  = Σ_j softmax_j(alpha · q_ij) · q_ij   over the M support actions a'_ij of s'_i
//     y_i  = r_i + gamma · (1 - done_i) · v_i
// alpha = 0 averages the support (a SARSA-like evaluation of the behaviour policy), a large
// alpha approaches the in-support max (a negative one, the min); alpha must be finite.
//
// Head h's value for support action j of row i is q_h[q_h_off + (i·M + j)·q_stride]: stride 1
// when each head is a contiguous batch×M block (two buffers, or one with head 2 after head 1),
// stride 2 when one network's output rows hold both heads side by side.
// y goes to out[y_off + i] and, when has_value is set, v to out[value_off + i] (for logging
// the mean target value).
//
// Several seeds' minibatches run in one dispatch: with copy_rows > 0, row i belongs to seed
// i / copy_rows, whose heads' values start q_copy_stride further on per seed (the rows of
// rewards, dones and outputs simply continue).

struct Params {
    batch: u32,
    support: u32,      // M
    q1_off: u32,
    q2_off: u32,
    q_stride: u32,
    reward_off: u32,
    done_off: u32,
    y_off: u32,
    value_off: u32,
    has_value: u32,    // 0: v is not written
    alpha: f32,
    gamma: f32,
    copy_rows: u32,      // rows per seed; 0: one seed
    q_copy_stride: u32,  // between seeds' head values
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> q1: array<f32>;
@group(0) @binding(1) var<storage, read> q2: array<f32>;
@group(0) @binding(2) var<storage, read> reward: array<f32>;
@group(0) @binding(3) var<storage, read> done: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

// The pessimistic value of support action j of row i: the smaller of the twin heads.
fn twin_min(i: u32, j: u32) -> f32 {
    var copy = 0u;
    var local = i;
    if p.copy_rows > 0u {
        copy = i / p.copy_rows;
        local = i - copy * p.copy_rows;
    }
    let k = (local * p.support + j) * p.q_stride + copy * p.q_copy_stride;
    return min(q1[p.q1_off + k], q2[p.q2_off + k]);
}

// One invocation per row: M is small (16 or 32 in QIPO), and 64 rows a workgroup spread a
// 256-row minibatch over several workgroups.
@compute @workgroup_size(WG)
fn softmax_td_target(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.batch {
        return;
    }
    // The value with the largest logit alpha·q: the max for alpha >= 0, the min below. The
    // exponents alpha·(q - q_top) are then <= 0, so exp never overflows, and they come from a
    // difference of Q-values rather than of two large logits, which keeps them accurate.
    var q_top = twin_min(i, 0u);
    for (var j = 1u; j < p.support; j += 1u) {
        let q = twin_min(i, j);
        q_top = select(min(q_top, q), max(q_top, q), p.alpha >= 0.0);
    }
    var total = 0.0;
    var weighted = 0.0;
    for (var j = 0u; j < p.support; j += 1u) {
        let q = twin_min(i, j);
        let e = exp(p.alpha * (q - q_top));
        total += e;
        weighted += e * q;
    }
    let v = weighted / total;
    out[p.y_off + i] = reward[p.reward_off + i] + p.gamma * (1.0 - done[p.done_off + i]) * v;
    if p.has_value != 0u {
        out[p.value_off + i] = v;
    }
}
