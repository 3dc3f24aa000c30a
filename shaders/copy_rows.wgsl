// Copies dense rows into a strided layout of groups: source row r goes to destination row
//     (r / per_group) · dst_group + dst_first + (r % per_group)
// QIPO keeps each state's support set together, [a_i0 | a_i1 .. a_iM]: the dataset actions
// go to slot 0 of every group (per_group 1) and the M sampled actions to slots 1..M
// (per_group M), so a state's whole support set is one contiguous row block.

struct Params {
    rows: u32,
    width: u32,
    per_group: u32,
    dst_group: u32,
    dst_first: u32,
    src_off: u32,
    dst_off: u32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn copy_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.rows * p.width {
        return;
    }
    let r = i / p.width;
    let k = i % p.width;
    let dst_row = (r / p.per_group) * p.dst_group + p.dst_first + r % p.per_group;
    dst[p.dst_off + dst_row * p.width + k] = src[p.src_off + i];
}
