// Energy weights: a softmax over consecutive groups of rows,
//     w_i = scale · exp(coef · value_i) / Σ_{j in group(i)} exp(coef · value_j)
// With value = energy and coef = -beta this is energy-weighted flow matching's
// exp(-beta·E(x1)) / E[exp(-beta·E)] estimated over the group; with value = Q(s, a_j) over
// one state's support actions and coef = +beta it is QIPO's g_ij = softmax_j(beta·Q).
// One invocation per group: groups are small (QIPO's M + 1 actions) or few (one minibatch).

struct Params {
    groups: u32,
    group_size: u32,
    value_off: u32,
    weight_off: u32,
    coef: f32,
    scale: f32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> value: array<f32>;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;

@compute @workgroup_size(64)
fn group_softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = gid.x + gid.y * groups.x * 64u;
    if g >= p.groups {
        return;
    }
    let first = g * p.group_size;
    // Subtract the largest logit so exp never overflows.
    var top = -3.4e38;
    for (var j = 0u; j < p.group_size; j += 1u) {
        top = max(top, p.coef * value[p.value_off + first + j]);
    }
    var total = 0.0;
    for (var j = 0u; j < p.group_size; j += 1u) {
        let e = exp(p.coef * value[p.value_off + first + j] - top);
        weight[p.weight_off + first + j] = e;
        total += e;
    }
    let norm = p.scale / total;
    for (var j = 0u; j < p.group_size; j += 1u) {
        weight[p.weight_off + first + j] *= norm;
    }
}
