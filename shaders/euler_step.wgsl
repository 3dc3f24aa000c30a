// One explicit Euler step of the flow ODE dx/dt = v(x, t), for every row of a batch at once:
//     x ← x + dt · v
// After the last step, actions are clipped to their bounds (FLAG_CLIP).

struct Params {
    count: u32,   // rows × dimensions
    x_off: u32,
    v_off: u32,
    flags: u32,
    dt: f32,
    low: f32,
    high: f32,
}

const FLAG_CLIP: u32 = 1u;

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> velocity: array<f32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn euler_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.count {
        return;
    }
    var next = x[p.x_off + i] + p.dt * velocity[p.v_off + i];
    if (p.flags & FLAG_CLIP) != 0u {
        next = clamp(next, p.low, p.high);
    }
    x[p.x_off + i] = next;
}
