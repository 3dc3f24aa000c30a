// Fill kernels: `count` random values written at `offset` of a buffer, one per element, with
// the generator of common/rng.wgsl. Element i of the range uses the block of words of index i,
// so the value does not depend on where in the buffer it lands, and a kernel drawing inline
// with the same draw gets the same numbers.
//
// The buffer is bound as raw 32-bit words: floats are stored as their bit patterns, so one
// binding serves f32 buffers (uniform, normal) and u32 buffers (indices, bits) alike.

struct Fill {
    draw: RngDraw,
    offset: u32,  // first element written
    count: u32,   // elements written
    n: u32,       // fill_indices: values are in [0, n)
    scale: f32,   // fill_uniform, fill_normal: value = shift + scale·x
    shift: f32,
}

var<immediate> p: Fill;

@group(0) @binding(0) var<storage, read_write> out: array<u32>;

const WG: u32 = 256u;

// The element of the range this invocation fills (grids spill into y past 65535 workgroups).
fn element(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

// The raw first word of each element's block.
@compute @workgroup_size(WG)
fn fill_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    out[p.offset + i] = rng_words(p.draw, i).x;
}

// Uniform in (shift, shift + scale); (0, 1) with scale 1 and shift 0.
@compute @workgroup_size(WG)
fn fill_uniform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    out[p.offset + i] = bitcast<u32>(p.shift + p.scale * rng_uniform(p.draw, i));
}

// Normal with mean `shift` and standard deviation `scale`.
@compute @workgroup_size(WG)
fn fill_normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    out[p.offset + i] = bitcast<u32>(p.shift + p.scale * rng_normal(p.draw, i));
}

// Integers uniform in [0, n), e.g. minibatch indices into a dataset of n rows.
@compute @workgroup_size(WG)
fn fill_indices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    out[p.offset + i] = rng_index(p.draw, i, p.n);
}
