// Linear layer backward. With dY the gradient of the loss with respect to Y = act(Z):
//     activation_backward:  dZ = dY ⊙ act'(Z)          (in place over dY)
//     backward_input:       dX = dZ·W                  (rows×in)
//     backward_weight:      dW = dZᵀ·X, db = dZᵀ·1     (into the flat gradient buffer)
// Every entry uses the bindings a (read), b (read), c (read_write) of this file; the
// weight and bias gradients can accumulate into c (FLAG_ACCUMULATE) for shared parameters.
// The products have a direct and a `_tiled` entry, one per matmul core.
//
// dX is the output gradient dY of the layer below, whose own backward pass starts with
// dY ⊙ act'(Z). With FLAG_ACT_GRAD, backward_input applies that in its epilogue, reading the
// layer below's Z (binding 3, at z_off, laid out like dX, with `act` its activation), and
// writes that layer's dZ directly: one dispatch, and one pass over dX, fewer per layer.

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
// backward_input: the pre-activation of the layer below (FLAG_ACT_GRAD).
@group(0) @binding(3) var<storage, read> z_below: array<f32>;
// The tiled core's vec4 views of a and b.
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

fn store(index: u32, value: f32) {
    if (p.flags & FLAG_ACCUMULATE) != 0u {
        c[index] += value;
    } else {
        c[index] = value;
    }
}

// Stores the part of the block inside C (the views in `p` pick whether C is dX or dW) and,
// for dW, the bias gradient: the row sums of A = dZᵀ.
fn finish(gid: vec3<u32>, block: Block) {
    let origin = block_origin(gid);
    let out = c_start(gid.z);
    let bias = p.bias_off + gid.z * p.c_batch_stride;
    let sums = keeps_row_sums(origin);
    for (var i = 0u; i < BLOCK; i += 1u) {
        let row = origin.x + i;
        if row >= p.m {
            break;
        }
        if sums {
            store(bias + row, block.row_sums[i]);
        }
        for (var j = 0u; j < BLOCK; j += 1u) {
            let col = origin.y + j;
            if col >= p.n {
                break;
            }
            store(out + row * p.n + col, block.acc[i][j]);
        }
    }
}

// Stores the part of the block inside dX, times act'(Z) of the layer below with
// FLAG_ACT_GRAD.
fn finish_input(gid: vec3<u32>, block: Block) {
    let origin = block_origin(gid);
    let out = c_start(gid.z);
    let below = p.z_off + gid.z * p.c_batch_stride;
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
            store(out + row * p.n + col, value);
        }
    }
}

@compute @workgroup_size(WG, WG)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    if block_outside(gid) {
        return;
    }
    finish_input(gid, matmul_direct(gid));
}

@compute @workgroup_size(WG, WG)
fn backward_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    if block_outside(gid) {
        return;
    }
    finish(gid, matmul_direct(gid));
}

@compute @workgroup_size(WG, WG)
fn backward_input_tiled(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    finish_input(gid, matmul_tiled(wid, lid));
}

@compute @workgroup_size(WG, WG)
fn backward_weight_tiled(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    finish(gid, matmul_tiled(wid, lid));
}

// One invocation per element: dY[i] *= act'(Z[i]). a = Z at a_off, c = dY at c_off, m·n
// elements per product of the batch (workgroup z).
@compute @workgroup_size(256)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.m * p.n {
        return;
    }
    c[c_start(gid.z) + i] *= activate_grad(a[a_start(gid.z) + i], p.act);
}
