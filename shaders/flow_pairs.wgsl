// Conditional flow-matching training pairs on the straight (optimal-transport) path, with
// noise at t = 0 and data at t = 1, for every row of a batch:
//     x0 ~ N(0, I),  t ~ U(0, 1),  x_t = (1 - t)·x0 + t·x1,  target = x1 - x0
// The noise and times are drawn inline from the counter-based RNG (common/rng.wgsl), so the
// batch costs one dispatch and no random numbers ever cross the bus.
//
// Copies of a network (one per seed) form their pairs in one dispatch: with copy_rows > 0, row r
// belongs to copy r / copy_rows and draws as row r % copy_rows of that copy's own draws (with
// copies_per_seed > 1: of its seed's draws, shared by that seed's consecutive copies).

struct Params {
    noise: RngDraw,  // x0, element row·dim + j
    time: RngDraw,   // t, element row
    rows: u32,
    dim: u32,
    x1_off: u32,
    xt_off: u32,
    t_off: u32,
    target_off: u32,
    copy_rows: u32,  // rows per copy; 0: one copy
    copies_per_seed: u32,  // consecutive copies drawing as one seed; 0 or 1: each its own
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> x1: array<f32>;
@group(0) @binding(1) var<storage, read_write> x_t: array<f32>;
@group(0) @binding(2) var<storage, read_write> t_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity_target: array<f32>;

@compute @workgroup_size(256)
fn flow_pairs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = gid.x + gid.y * groups.x * 256u;
    if row >= p.rows {
        return;
    }
    var noise = p.noise;
    var time = p.time;
    var local_row = row;
    if p.copy_rows > 0u {
        let copy = row / p.copy_rows;
        noise = rng_seed_copy_draw(p.noise, copy, p.copies_per_seed);
        time = rng_seed_copy_draw(p.time, copy, p.copies_per_seed);
        local_row = row - copy * p.copy_rows;
    }
    let t = rng_uniform(time, local_row);
    t_out[p.t_off + row] = t;
    for (var j = 0u; j < p.dim; j += 1u) {
        let i = row * p.dim + j;
        let x0 = rng_normal(noise, local_row * p.dim + j);
        let data = x1[p.x1_off + i];
        x_t[p.xt_off + i] = (1.0 - t) * x0 + t * data;
        velocity_target[p.target_off + i] = data - x0;
    }
}
