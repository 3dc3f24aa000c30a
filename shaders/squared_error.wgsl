// Weighted squared error, its gradient and its sum over each block of rows, one workgroup per
// block:
//     loss_i  = scale · w_i · Σ_j (pred_ij - goal_ij)²
//     grad_ij = 2 · scale · w_i · (pred_ij - goal_ij)
//     stats[loss_off + b] = Σ_{i in block b} loss_i
// With w = 1 and scale = 1/rows this is the mean squared error over rows; energy-weighted
// flow matching passes the energy weights as w. Blocks are the copies of a network (one per
// seed, or per head of a twin critic), so each copy's loss is one number, written here rather
// than by a reduction dispatch after.
//
// With has_means, the workgroup also writes the mean over its rows of each row's prediction
// sum (stats[pred_mean_off + b]; for one-value rows, the mean prediction, a critic's mean Q)
// and, for the first block of each group sharing goals, the same mean of the goal rows
// (stats[goal_mean_off + b / target_share]).
//
// The sums are those a reduction of the per-row values would give (common/block_sum.wgsl).
//
// Several predictions may share one goal: with target_block > 0, `target_share` consecutive
// blocks read the same block of goal rows (the two heads of each seed's twin critic regress
// onto that seed's TD targets).

struct Params {
    rows: u32,          // rows of all blocks together
    cols: u32,
    pred_off: u32,
    target_off: u32,
    weight_off: u32,
    grad_off: u32,
    loss_off: u32,      // where block b's loss sum goes in stats
    has_weights: u32,   // 0: every weight is 1
    scale: f32,
    block_rows: u32,    // rows per block (the last may be shorter)
    target_block: u32,  // 0: row i reads goal row i; else blocks share goals, see above
    target_share: u32,  // consecutive blocks sharing one goal block (0 is read as 1)
    has_means: u32,
    pred_mean_off: u32,
    goal_mean_off: u32,
    mean_scale: f32,    // 1 / block_rows, rounded on the host
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> goal: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

const WG: u32 = 256u;

fn goal_row(row: u32) -> u32 {
    if p.target_block == 0u {
        return row;
    }
    let block = row / p.target_block;
    return block / max(p.target_share, 1u) * p.target_block + (row - block * p.target_block);
}

// Writes row `row`'s gradient; returns its loss, prediction sum and goal sum.
fn row_loss(row: u32) -> vec3<f32> {
    var w = p.scale;
    if p.has_weights != 0u {
        w *= weight[p.weight_off + row];
    }
    let at_goal = p.target_off + goal_row(row) * p.cols;
    var sum = 0.0;
    var pred_sum = 0.0;
    var goal_sum = 0.0;
    for (var j = 0u; j < p.cols; j += 1u) {
        let y = pred[p.pred_off + row * p.cols + j];
        let t = goal[at_goal + j];
        let d = y - t;
        sum += d * d;
        grad[p.grad_off + row * p.cols + j] = 2.0 * w * d;
        pred_sum += y;
        goal_sum += t;
    }
    return vec3<f32>(w * sum, pred_sum, goal_sum);
}

@compute @workgroup_size(WG)
fn weighted_squared_error(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = wid.x + wid.y * groups.x;
    let first = block * p.block_rows;
    // Whole workgroups leave together, so the barriers below stay uniform.
    if first >= p.rows {
        return;
    }
    let end = min(first + p.block_rows, p.rows);
    var acc = vec3<f32>();
    for (var row = first + lid; row < end; row += WG) {
        acc += row_loss(row);
    }
    // The loss, prediction and goal sums of the block.
    let total = block_sum(lid, acc);
    if lid != 0u {
        return;
    }
    stats[p.loss_off + block] = total.x;
    if p.has_means != 0u {
        stats[p.pred_mean_off + block] = total.y * p.mean_scale;
        let share = max(p.target_share, 1u);
        if block % share == 0u {
            stats[p.goal_mean_off + block / share] = total.z * p.mean_scale;
        }
    }
}
