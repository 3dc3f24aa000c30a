// IQL's expectile regression of V(s) onto min(Q1, Q2)(s, a), its gradient and its sum over
// each block of rows (one block per seed), one workgroup per block:
//     u_i    = min(q1_i, q2_i) - pred_i
//     w_i    = |tau - 1(u_i < 0)|          tau where the prediction is below its target,
//                                          1 - tau where it is above
//     loss_i = scale · w_i · u_i²
//     d loss_i / d pred_i = -2 · scale · w_i · u_i
//     stats[loss_off + b] = Σ_{i in block b} loss_i
// tau = 0.5 is half the squared error; tau > 0.5 leans the prediction towards an upper
// expectile of the targets. The two heads are read from one buffer, block b's at q1_off and
// q2_off plus b·q_copy_stride; a single target passes q2_off = q1_off. The sums are those a
// reduction of the per-row losses would give (common/block_sum.wgsl).

struct Params {
    rows: u32,          // rows of all blocks together
    block_rows: u32,
    pred_off: u32,
    q1_off: u32,
    q2_off: u32,
    q_copy_stride: u32,  // between consecutive blocks' head values
    grad_off: u32,
    loss_off: u32,       // where block b's loss sum goes in stats
    expectile: f32,      // tau
    scale: f32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> heads: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

const WG: u32 = 256u;

// Writes row `row` (of block `block`)'s gradient and returns its loss.
fn row_loss(block: u32, row: u32) -> f32 {
    let at = block * p.q_copy_stride + row - block * p.block_rows;
    let u = min(heads[p.q1_off + at], heads[p.q2_off + at]) - pred[p.pred_off + row];
    let below = select(0.0, 1.0, u < 0.0);
    let w = p.scale * abs(p.expectile - below);
    grad[p.grad_off + row] = -2.0 * w * u;
    return w * u * u;
}

@compute @workgroup_size(WG)
fn expectile_loss(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = wid.x + wid.y * groups.x;
    let first = block * p.block_rows;
    // Whole workgroups leave together, so the barriers in block_sum stay uniform.
    if first >= p.rows {
        return;
    }
    let end = min(first + p.block_rows, p.rows);
    var acc = 0.0;
    for (var row = first + lid; row < end; row += WG) {
        acc += row_loss(block, row);
    }
    let total = block_sum(lid, vec3<f32>(acc, 0.0, 0.0));
    if lid == 0u {
        stats[p.loss_off + block] = total.x;
    }
}
