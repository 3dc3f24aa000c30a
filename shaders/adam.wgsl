// Adam and AdamW over one flat parameter buffer: one dispatch updates every parameter of a
// network, one invocation per parameter. With g the (clipped) gradient and t the step:
//
//     m = β1·m + (1 - β1)·g
//     v = β2·v + (1 - β2)·g²
//     θ = θ·(1 - lr·λ) - step_size · m / (sqrt(v) / sqrt(1 - β2^t) + ε),
//     step_size = lr · 1 / (1 - β1^t)
//
// as in PyTorch's AdamW; weight decay λ = 0 is plain Adam. The bias corrections depend only
// on the step: they are computed once per step on the host in f64 and arrive as immediates,
// so the kernel needs no powers.
//
// The learning rate is one immediate for every parameter, or, for copies of a network
// trained with different learning rates (a sweep's grid), copy c's own lrs[c]. Both paths
// do the same f32 arithmetic, so a copy steps exactly as one network with its rate alone.
//
// Global-norm gradient clipping: g = clip·grad with clip = min(1, max_norm / (‖grad‖ + 1e-6)),
// where ‖grad‖² was written to stats[stats_off] by the reduction dispatched just before
// (reduce.wgsl). max_norm <= 0 disables clipping and stats is not read. A buffer holding
// copies of one network (`segment` parameters each) clips each copy by its own norm, found
// at stats[stats_off + copy].
//
// adam_polyak_step then moves a target network towards the updated parameters, as the
// critic's targets follow it (polyak averaging), in the same dispatch:
//     target ← tau · θ + (1 - tau) · target

struct AdamStep {
    offset: u32,           // first parameter updated
    count: u32,            // parameters updated
    stats_off: u32,        // where the squared gradient norm is
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    correction1: f32,      // 1 / (1 - β1^t)
    inv_sqrt_correction2: f32,  // 1 / sqrt(1 - β2^t)
    weight_decay: f32,     // λ
    max_norm: f32,         // <= 0: no clipping
    segment: u32,          // parameters per copy; 0: one network
    tau: f32,              // adam_polyak_step: the fraction of θ mixed into the target
    lr: f32,               // the learning rate, unless per_copy_lr
    per_copy_lr: u32,      // 1: copy c's learning rate is lrs[c]
}

var<immediate> p: AdamStep;

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
// Each copy's learning rate (read only when p.per_copy_lr is 1).
@group(0) @binding(5) var<storage, read> lrs: array<f32>;
// adam_polyak_step: the target network, laid out like params.
@group(0) @binding(6) var<storage, read_write> target_params: array<f32>;

const WG: u32 = 256u;

// The copy of the network parameter i belongs to (0 for one network).
fn copy_of(i: u32) -> u32 {
    return select(0u, i / p.segment, p.segment > 0u);
}

// The factor the gradients of parameter i's network are multiplied by: 1, or less when that
// network's gradient norm is too large.
fn clip_scale(i: u32) -> f32 {
    if p.max_norm <= 0.0 {
        return 1.0;
    }
    let norm = sqrt(stats[p.stats_off + copy_of(i)]);
    return min(1.0, p.max_norm / (norm + 1e-6));
}

// The learning rate of parameter i's network.
fn learning_rate(i: u32) -> f32 {
    if p.per_copy_lr != 0u {
        return lrs[copy_of(i)];
    }
    return p.lr;
}

// Updates parameter j = offset + i and its moments; returns the new parameter.
fn update(i: u32) -> f32 {
    let j = p.offset + i;
    let g = grads[j] * clip_scale(i);
    let m_new = p.beta1 * m[j] + p.one_minus_beta1 * g;
    let v_new = p.beta2 * v[j] + p.one_minus_beta2 * (g * g);
    m[j] = m_new;
    v[j] = v_new;
    let lr = learning_rate(i);
    let step_size = lr * p.correction1;
    let decay = 1.0 - lr * p.weight_decay;
    let denom = sqrt(v_new) * p.inv_sqrt_correction2 + p.eps;
    let theta = params[j] * decay - step_size * (m_new / denom);
    params[j] = theta;
    return theta;
}

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.count {
        return;
    }
    update(i);
}

@compute @workgroup_size(WG)
fn adam_polyak_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.count {
        return;
    }
    let theta = update(i);
    let j = p.offset + i;
    target_params[j] = p.tau * theta + (1.0 - p.tau) * target_params[j];
}
