// Linear layer backward. With dY the gradient of the loss with respect to Y = act(Z):
//     activation_backward:  dZ = dY ⊙ act'(Z)                      (in place over dY)
//     backward:             dW = dZᵀ·X, db = dZᵀ·1 (into the flat gradient buffer)
//                           and dX = dZ·W (rows×in), in one dispatch
// The two products share dZ and their column count (in), so one grid covers both: the first
// `weight_tiles` rows of workgroups compute dW, the rest dX. Each workgroup runs one of the
// matmul cores on the product it owns, so the results are those of two separate dispatches.
// The weight and bias gradients can accumulate into the gradient buffer (FLAG_ACCUMULATE)
// for shared parameters. `backward` runs the direct core, `backward_tiled` the tiled one.
//
// dW sums over the rows, and a layer of few outputs has few tiles of dW: a batch of 4352 rows
// through a 256→6 layer is 4 workgroups, each adding up 4352 products. With `weight_splits`
// above 1 the rows are cut into chunks of `split_rows`, each tile of dW gets one workgroup per
// chunk, those write partial sums (in place of the gradient buffer, bound in its slot) and
// `sum_splits` then adds each gradient's partials, chunk after chunk, into the gradients.
//
// dX is the output gradient dY of the layer below, whose own backward pass starts with
// dY ⊙ act'(Z). With FLAG_ACT_GRAD, the dX epilogue applies that, reading the layer below's Z
// (at z_below_off, laid out like dX, with `act_below` its activation), and writes that layer's
// dZ directly: one pass over dX fewer per layer.

struct LinearGrad {
    rows: u32,
    out_dim: u32,
    in_dim: u32,
    dz_off: u32,          // dZ (and dY, Z of activation_backward), rows×out per copy
    z_off: u32,           // the layer's own Z (activation_backward)
    output_stride: u32,   // between copies' dZ and Z
    x_off: u32,
    input_stride: u32,    // between copies' X and dX
    input_group: u32,     // consecutive copies sharing one X (then there is no dX)
    weight_off: u32,
    bias_off: u32,
    params_stride: u32,   // between copies' parameters and gradients
    dx_off: u32,
    z_below_off: u32,
    act: u32,             // activation_backward: the layer's activation
    act_below: u32,       // FLAG_ACT_GRAD: the activation of the layer below
    flags: u32,           // FLAG_ACCUMULATE (dW, db), FLAG_ACT_GRAD (dX)
    weight_tiles: u32,    // workgroup rows of one chunk's dW; those of dX come after all chunks'
    weight_splits: u32,   // row chunks of dW (0 or 1: none, dW goes straight into grads)
    split_rows: u32,      // rows per chunk
}

var<immediate> g: LinearGrad;
// The product this workgroup computes (every invocation of a workgroup computes the same one).
var<private> p: Matmul;
// B is W (dX) rather than X (dW).
var<private> b_is_weight: bool;

// activation_backward: Z in a, dY in grads.
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
// The pre-activation of the layer below (FLAG_ACT_GRAD).
@group(0) @binding(5) var<storage, read> z_below: array<f32>;
// The tiled core's vec4 views of dZ, X and the parameters.
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> weights4: array<vec4<f32>>;

fn b_value(i: u32) -> f32 {
    if b_is_weight {
        return weights[i];
    }
    return b[i];
}

fn b_quad(i: u32) -> vec4<f32> {
    if b_is_weight {
        return weights4[i];
    }
    return b4[i];
}

// dW (out×in) = dZᵀ·X: A(i, r) = dZ[r, i], B(r, j) = X[r, j]; db = A's row sums.
fn weight_product() -> Matmul {
    var m: Matmul;
    m.m = g.out_dim;
    m.n = g.in_dim;
    m.k = g.rows;
    m.a_off = g.dz_off;
    m.a_row_stride = 1u;
    m.a_col_stride = g.out_dim;
    m.a_batch_stride = g.output_stride;
    m.b_off = g.x_off;
    m.b_row_stride = g.in_dim;
    m.b_col_stride = 1u;
    m.b_batch_stride = g.input_stride;
    m.b_batch_group = g.input_group;
    m.c_off = g.weight_off;
    m.c_batch_stride = g.params_stride;
    m.bias_off = g.bias_off;
    m.flags = (g.flags & FLAG_ACCUMULATE) | FLAG_ROW_SUMS;
    return m;
}

fn splits() -> u32 {
    return max(g.weight_splits, 1u);
}

// dW and db over chunk `split` of the rows, into that chunk's partial sums: copy c's partials
// of chunk s start (c·splits + s)·part into the buffer, dW (out×in) then db (out).
fn weight_product_of_chunk(split: u32) -> Matmul {
    var m = weight_product();
    if splits() == 1u {
        return m;
    }
    let first = split * g.split_rows;
    let part = g.out_dim * g.in_dim + g.out_dim;
    m.k = min(g.split_rows, g.rows - min(first, g.rows));
    m.a_off += first * g.out_dim;
    m.b_off += first * g.in_dim;
    m.c_off = split * part;
    m.c_batch_stride = splits() * part;
    m.bias_off = m.c_off + g.out_dim * g.in_dim;
    m.flags = FLAG_ROW_SUMS;  // partial sums are written, never added to
    return m;
}

// dX (rows×in) = dZ·W: A = dZ (rows×out), B(o, j) = W[o, j].
fn input_product() -> Matmul {
    var m: Matmul;
    m.m = g.rows;
    m.n = g.in_dim;
    m.k = g.out_dim;
    m.a_off = g.dz_off;
    m.a_row_stride = g.out_dim;
    m.a_col_stride = 1u;
    m.a_batch_stride = g.output_stride;
    m.b_off = g.weight_off;
    m.b_row_stride = g.in_dim;
    m.b_col_stride = 1u;
    m.b_batch_stride = g.params_stride;
    m.c_off = g.dx_off;
    m.c_batch_stride = g.input_stride;
    m.z_off = g.z_below_off;
    m.act = g.act_below;
    m.flags = g.flags & FLAG_ACT_GRAD;
    return m;
}

// Workgroup rows of dW, every chunk's.
fn weight_rows() -> u32 {
    return g.weight_tiles * splits();
}

// Picks this workgroup's product and returns its invocation id within that product's grid.
fn select_product(gid: vec3<u32>, wid: vec3<u32>) -> vec3<u32> {
    let at = product_workgroup(wid);
    if wid.y < weight_rows() {
        p = weight_product_of_chunk(wid.y / g.weight_tiles);
        b_is_weight = false;
    } else {
        p = input_product();
        b_is_weight = true;
    }
    return vec3<u32>(gid.x, at.y * WG + gid.y % WG, gid.z);
}

// The workgroup's id within its product's grid (for dW, within its chunk's).
fn product_workgroup(wid: vec3<u32>) -> vec3<u32> {
    if wid.y < weight_rows() {
        return vec3<u32>(wid.x, wid.y % g.weight_tiles, wid.z);
    }
    return vec3<u32>(wid.x, wid.y - weight_rows(), wid.z);
}

fn store_gradient(index: u32, value: f32) {
    if (p.flags & FLAG_ACCUMULATE) != 0u {
        grads[index] += value;
    } else {
        grads[index] = value;
    }
}

// Stores the part of the block inside dW, and the bias gradient: the row sums of A = dZᵀ.
fn finish_weight(at: vec3<u32>, block: Block) {
    let origin = block_origin(at);
    let out = c_start(at.z);
    let bias = p.bias_off + at.z * p.c_batch_stride;
    let sums = keeps_row_sums(origin);
    for (var i = 0u; i < BLOCK; i += 1u) {
        let row = origin.x + i;
        if row >= p.m {
            break;
        }
        if sums {
            store_gradient(bias + row, block.row_sums[i]);
        }
        for (var j = 0u; j < BLOCK; j += 1u) {
            let col = origin.y + j;
            if col >= p.n {
                break;
            }
            store_gradient(out + row * p.n + col, block.acc[i][j]);
        }
    }
}

// Stores the part of the block inside dX, times act'(Z) of the layer below with
// FLAG_ACT_GRAD.
fn finish_input(at: vec3<u32>, block: Block) {
    let origin = block_origin(at);
    let out = c_start(at.z);
    let below = p.z_off + at.z * p.c_batch_stride;
    let fused = (p.flags & FLAG_ACT_GRAD) != 0u;
    for (var i = 0u; i < BLOCK; i += 1u) {
        let row = origin.x + i;
        if row >= p.m {
            break;
        }
        for (var j = 0u; j < BLOCK; j += 1u) {
            let col = origin.y + j;
            if col >= p.n {
                break;
            }
            var value = block.acc[i][j];
            if fused {
                value *= activate_grad(z_below[below + row * p.n + col], p.act);
            }
            dx[out + row * p.n + col] = value;
        }
    }
}

fn finish(at: vec3<u32>, block: Block) {
    if b_is_weight {
        finish_input(at, block);
    } else {
        finish_weight(at, block);
    }
}

@compute @workgroup_size(WG, WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let at = select_product(gid, wid);
    if block_outside(at) {
        return;
    }
    finish(at, matmul_direct(at));
}

@compute @workgroup_size(WG, WG)
fn backward_tiled(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let at = select_product(gid, wid);
    finish(at, matmul_tiled(product_workgroup(wid), lid));
}

// One invocation per element: dY[i] *= act'(Z[i]), with Z in a and dY in grads, rows·out
// elements per copy (workgroup z).
@compute @workgroup_size(256)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= g.rows * g.out_dim {
        return;
    }
    let copy = gid.z * g.output_stride;
    grads[g.dz_off + copy + i] *= activate_grad(a[g.z_off + copy + i], g.act);
}

// With weight_splits > 1: each gradient of dW and db (one invocation each, workgroup z the
// copy) as the sum of its chunks' partials, in chunk order, with the partials in a.
@compute @workgroup_size(256)
fn sum_splits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let weights = g.out_dim * g.in_dim;
    let part = weights + g.out_dim;
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= part {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < splits(); s += 1u) {
        sum += a[(gid.z * splits() + s) * part + i];
    }
    let copy = gid.z * g.params_stride;
    let at = select(g.bias_off + copy + i - weights, g.weight_off + copy + i, i < weights);
    if (g.flags & FLAG_ACCUMULATE) != 0u {
        grads[at] += sum;
    } else {
        grads[at] = sum;
    }
}
