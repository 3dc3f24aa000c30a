// IQL's expectile regression and its gradient, one invocation per row:
//     u_i    = target_i - pred_i
//     w_i    = |tau - 1(u_i < 0)|          tau where the prediction is below its target,
//                                          1 - tau where it is above
//     loss_i = scale · w_i · u_i²
//     d loss_i / d pred_i = -2 · scale · w_i · u_i
// tau = 0.5 is half the squared error; tau > 0.5 leans the prediction towards an upper
// expectile of the targets. The total loss is the sum of loss_row (reduced by the reduction
// kernels), so no atomics are needed here.

struct Params {
    rows: u32,
    pred_off: u32,
    target_off: u32,
    grad_off: u32,
    loss_off: u32,
    expectile: f32,    // tau
    scale: f32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> goal: array<f32>;  // the targets (`target` is reserved)
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss_row: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn expectile_loss(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.rows {
        return;
    }
    let u = goal[p.target_off + i] - pred[p.pred_off + i];
    let below = select(0.0, 1.0, u < 0.0);
    let w = p.scale * abs(p.expectile - below);
    loss_row[p.loss_off + i] = w * u * u;
    grad[p.grad_off + i] = -2.0 * w * u;
}
