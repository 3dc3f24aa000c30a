// Linear layer forward with the bias and activation fused into the epilogue:
//     Z = X·Wᵀ + b,  Y = act(Z)
// X is rows×in (a), W is out×in in PyTorch's layout and b is out, both in the flat parameter
// buffer (b). Z is kept only when training needs it for the backward pass. `forward` runs
// the direct core, `forward_vec4` the direct core with vec4 loads along k (where the offsets
// allow; else the direct core), `forward_tiled` the workgroup-memory one; they compute the
// same thing.

var<immediate> p: Matmul;

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
// The vec4 views of a and b (the tiled and vec4 cores).
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

fn b_value(i: u32) -> f32 {
    return b[i];
}

fn b_quad(i: u32) -> vec4<f32> {
    return b4[i];
}

// Adds the bias, stores Z if asked and Y = act(Z) for the part of the block inside C.
fn finish(gid: vec3<u32>, block: Block) {
    let origin = block_origin(gid);
    let out = c_start(gid.z);
    let pre = p.z_off + gid.z * p.c_batch_stride;
    let bias = p.bias_off + gid.z * p.b_batch_stride;
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
            var v = block.acc[i][j];
            if (p.flags & FLAG_BIAS) != 0u {
                v += b[bias + col];
            }
            let at = row * p.n + col;
            if (p.flags & FLAG_STORE_Z) != 0u {
                z[pre + at] = v;
            }
            y[out + at] = activate(v, p.act);
        }
    }
}

@compute @workgroup_size(WG, WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    if block_outside(gid) {
        return;
    }
    finish(gid, matmul_direct(gid));
}

@compute @workgroup_size(WG, WG)
fn forward_tiled(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    finish(gid, matmul_tiled(wid, lid));
}

@compute @workgroup_size(WG, WG)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    if block_outside(gid) {
        return;
    }
    if reads_vec4_along_k() {
        finish(gid, matmul_direct_vec4(gid));
    } else {
        finish(gid, matmul_direct(gid));
    }
}
