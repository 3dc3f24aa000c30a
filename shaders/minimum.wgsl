// Elementwise minimum of two arrays: the pessimistic value min(Q1, Q2) of a twin critic.

struct Params {
    count: u32,
    a_off: u32,
    b_off: u32,
    out_off: u32,
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
    out[p.out_off + i] = min(a[p.a_off + i], b[p.b_off + i]);
}
