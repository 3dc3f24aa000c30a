// Reductions of a range of a buffer to one number: sum, mean, max, or sum of squares.
//
// A long range is reduced in two dispatches. The first runs up to a few hundred workgroups;
// each invocation folds a strided slice of the range into a private accumulator (so any
// length works with a fixed number of workgroups), the workgroup combines its 256 values by a
// tree in workgroup memory, and writes one partial result. The second dispatch is the same
// kernel run as a single workgroup over the partials. A range that fits one workgroup's share
// takes the first dispatch only, straight into the output.
//
// reduce_rows reduces each row of a dense rows×len matrix in one dispatch, a workgroup per row.
//
// Empty ranges give the identity: 0 for sums and means, -inf for max.

struct Reduction {
    len: u32,      // elements reduced (per row, for reduce_rows)
    rows: u32,     // reduce_rows: the number of rows
    src_off: u32,
    dst_off: u32,  // where the result (or the first partial, or row 0's result) goes
    square: u32,   // 1: reduce x² instead of x (the first stage of a sum of squares)
    use_max: u32,  // 1: combine with max instead of +
    scale: f32,    // multiplies the result: 1 / len for a mean, 1 otherwise
}

var<immediate> p: Reduction;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

var<workgroup> partial: array<f32, WG>;

fn identity() -> f32 {
    // -inf: the bit pattern of a negative infinity, which WGSL has no literal for.
    return select(0.0, bitcast<f32>(0xFF800000u), p.use_max != 0u);
}

fn combine(a: f32, b: f32) -> f32 {
    return select(a + b, max(a, b), p.use_max != 0u);
}

fn load(index: u32) -> f32 {
    let v = src[index];
    return select(v, v * v, p.square != 0u);
}

// Combines the 256 values of a workgroup by halving: 8 steps, each separated by a barrier so
// every invocation sees the previous step's results. Returns the total (valid in invocation 0).
fn workgroup_total(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            partial[lid] = combine(partial[lid], partial[lid + half]);
        }
        workgroupBarrier();
    }
    return partial[0];
}

// Workgroup w writes the reduction of elements w·256 + lid + k·(groups·256), k = 0, 1, ...,
// to dst[dst_off + w]. One-dimensional grid.
@compute @workgroup_size(WG)
fn reduce_range(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WG;
    var acc = identity();
    for (var i = wid.x * WG + lid; i < p.len; i += stride) {
        acc = combine(acc, load(p.src_off + i));
    }
    let total = workgroup_total(lid, acc);
    if lid == 0u {
        dst[p.dst_off + wid.x] = total * p.scale;
    }
}

// dst[dst_off + row] = reduction of src[src_off + row·len ..][..len], a workgroup per row
// (the grid spills into y past 65535 rows).
@compute @workgroup_size(WG)
fn reduce_rows(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let row = wid.x + wid.y * groups.x;
    if row >= p.rows {
        return;
    }
    let start = p.src_off + row * p.len;
    var acc = identity();
    for (var i = lid; i < p.len; i += WG) {
        acc = combine(acc, load(start + i));
    }
    let total = workgroup_total(lid, acc);
    if lid == 0u {
        dst[p.dst_off + row] = total * p.scale;
    }
}
