// Linear layer backward. With dY the gradient of the loss with respect to Y = act(Z):
//     activation_backward:  dZ = dY ⊙ act'(Z)          (in place over dY)
//     backward_input:       dX = dZ·W                  (rows×in)
//     backward_weight:      dW = dZᵀ·X                 (out×in, into the flat gradient buffer)
//     backward_bias:        db = column sums of dZ     (out, into the flat gradient buffer)
// Every entry uses the bindings a (read), b (read), c (read_write) of this file; the
// weight and bias gradients can accumulate into c (FLAG_ACCUMULATE) for shared parameters.

@group(0) @binding(2) var<storage, read_write> c: array<f32>;

fn store(index: u32, value: f32) {
    if (p.flags & FLAG_ACCUMULATE) != 0u {
        c[index] += value;
    } else {
        c[index] = value;
    }
}

// The matrix products dX and dW: the views in `p` pick which.
fn product(gid: vec3<u32>) {
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
            store(p.c_off + row * p.n + col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG, WG)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    product(gid);
}

@compute @workgroup_size(WG, WG)
fn backward_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    product(gid);
}

// One invocation per output column: db[col] = sum over rows of dZ[row, col].
// a = dZ (m×n at a_off), c = gradient buffer (bias at bias_off).
@compute @workgroup_size(256)
fn backward_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if col >= p.n {
        return;
    }
    var sum = 0.0;
    for (var row = 0u; row < p.m; row += 1u) {
        sum += a[p.a_off + row * p.n + col];
    }
    store(p.bias_off + col, sum);
}

// One invocation per element: dY[i] *= act'(Z[i]). a = Z at a_off, c = dY at c_off, m·n elements.
@compute @workgroup_size(256)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.m * p.n {
        return;
    }
    c[p.c_off + i] *= activate_grad(a[p.a_off + i], p.act);
}
