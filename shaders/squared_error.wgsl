// Weighted squared error and its gradient, one invocation per row:
//     loss_row[i] = scale · w_i · Σ_j (pred_ij - goal_ij)²
//     grad_ij     = 2 · scale · w_i · (pred_ij - goal_ij)
// With w = 1 and scale = 1/rows this is the mean squared error over rows; energy-weighted
// flow matching passes the energy weights as w. The total loss is the sum of loss_row
// (reduced by the reduction kernels), so no atomics are needed here.
//
// Several predictions may share one goal: with target_block > 0, the rows come in blocks of
// target_block rows and `target_share` consecutive blocks read the same block of goal rows
// (the two heads of each seed's twin critic regress onto that seed's TD targets).

struct Params {
    rows: u32,
    cols: u32,
    pred_off: u32,
    target_off: u32,
    weight_off: u32,
    grad_off: u32,
    loss_off: u32,
    has_weights: u32,  // 0: every weight is 1
    scale: f32,
    target_block: u32,  // rows per block of predictions; 0: row i reads goal row i
    target_share: u32,  // consecutive blocks sharing one goal block (0 is read as 1)
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> goal: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_row: array<f32>;

@compute @workgroup_size(256)
fn weighted_squared_error(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = gid.x + gid.y * groups.x * 256u;
    if row >= p.rows {
        return;
    }
    var w = p.scale;
    if p.has_weights != 0u {
        w *= weight[p.weight_off + row];
    }
    var goal_row = row;
    if p.target_block > 0u {
        let block = row / p.target_block;
        goal_row = block / max(p.target_share, 1u) * p.target_block + (row - block * p.target_block);
    }
    var sum = 0.0;
    for (var j = 0u; j < p.cols; j += 1u) {
        let d = pred[p.pred_off + row * p.cols + j] - goal[p.target_off + goal_row * p.cols + j];
        sum += d * d;
        grad[p.grad_off + row * p.cols + j] = 2.0 * w * d;
    }
    loss_row[p.loss_off + row] = w * sum;
}
