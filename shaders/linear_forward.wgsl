// Linear layer forward with the bias and activation fused into the epilogue:
//     Z = X·Wᵀ + b,  Y = act(Z)
// X is rows×in (a), W is out×in in PyTorch's layout and b is out, both in the flat parameter
// buffer (b). Z is kept only when training needs it for the backward pass.

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(WG, WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * BLOCK;
    let col0 = gid.x * BLOCK;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let acc = matmul_block(row0, col0);
    for (var i = 0u; i < BLOCK; i += 1u) {
        let row = row0 + i;
        if row >= p.m {
            break;
        }
        for (var j = 0u; j < BLOCK; j += 1u) {
            let col = col0 + j;
            if col >= p.n {
                break;
            }
            var v = acc[i][j];
            if (p.flags & FLAG_BIAS) != 0u {
                v += b[p.bias_off + col];
            }
            let out = row * p.n + col;
            if (p.flags & FLAG_STORE_Z) != 0u {
                z[p.z_off + out] = v;
            }
            y[p.c_off + out] = activate(v, p.act);
        }
    }
}
