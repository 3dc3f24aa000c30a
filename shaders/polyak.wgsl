// Polyak averaging of a target network, one invocation per parameter:
//     target ← tau · online + (1 - tau) · target
// over one flat range of parameters, so a single dispatch follows a whole network (both twin
// heads at once when the critic is one parameter buffer). tau = 1 copies the online network.

struct Params {
    count: u32,
    online_off: u32,
    target_off: u32,
    tau: f32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> online_params: array<f32>;
@group(0) @binding(1) var<storage, read_write> target_params: array<f32>;  // `target` is reserved in WGSL

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn polyak_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.count {
        return;
    }
    let t = p.target_off + i;
    target_params[t] = p.tau * online_params[p.online_off + i] + (1.0 - p.tau) * target_params[t];
}
