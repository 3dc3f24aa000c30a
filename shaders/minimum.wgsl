// Elementwise minimum of two arrays: the pessimistic value min(Q1, Q2) of a twin critic.
//
// Several seeds' critics in one dispatch: with copy_len > 0, output element i belongs to copy
// i / copy_len, whose inputs start copy_stride elements after the previous copy's (each seed's
// two heads lie one after the other, so a copy's Q1 and Q2 blocks are copy_stride apart from
// the next seed's); the outputs simply continue.

struct Params {
    count: u32,
    a_off: u32,
    b_off: u32,
    out_off: u32,
    copy_len: u32,     // elements per copy; 0: one copy
    copy_stride: u32,  // between copies' inputs
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn minimum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.count {
        return;
    }
    var k = i;
    if p.copy_len > 0u {
        let copy = i / p.copy_len;
        k = copy * p.copy_stride + (i - copy * p.copy_len);
    }
    out[p.out_off + i] = min(a[p.a_off + k], b[p.b_off + k]);
}
