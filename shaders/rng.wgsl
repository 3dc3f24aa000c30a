// Fill kernels: `count` random values written at `offset` of a buffer, one per element, with
// the generator of common/rng.wgsl. Element i of the range uses the block of words of index i,
// so the value does not depend on where in the buffer it lands, and a kernel drawing inline
// with the same draw gets the same numbers.
//
// A range may continue a draw: its values are elements first, first + 1, ... of the draw, so a
// long draw can be filled in parts (chunk by chunk) and give the same numbers as in one go.
//
// Copies of a network (one per seed) fill in one dispatch: with copy_len > 0, element i belongs
// to copy i / copy_len and takes element first + i % copy_len of that copy's own draw
// (rng_copy_draw); with copies_per_seed > 1, consecutive copies share a seed's draw
// (rng_seed_copy_draw).
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
    copy_len: u32,  // elements per copy; 0: one copy
    first: u32,     // the element index of the range's first value (of each copy's)
    copies_per_seed: u32,  // consecutive copies drawing as one seed; 0 or 1: each its own
}

var<immediate> p: Fill;

@group(0) @binding(0) var<storage, read_write> out: array<u32>;

const WG: u32 = 256u;

// The element of the range this invocation fills (grids spill into y past 65535 workgroups).
fn element(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

// The draw and element index that element i of the range uses.
struct Slot {
    draw: RngDraw,
    index: u32,
}

fn slot(i: u32) -> Slot {
    if p.copy_len == 0u {
        return Slot(p.draw, p.first + i);
    }
    let copy = i / p.copy_len;
    return Slot(rng_seed_copy_draw(p.draw, copy, p.copies_per_seed), p.first + i - copy * p.copy_len);
}

// The raw first word of each element's block.
@compute @workgroup_size(WG)
fn fill_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    let s = slot(i);
    out[p.offset + i] = rng_words(s.draw, s.index).x;
}

// Uniform in (shift, shift + scale); (0, 1) with scale 1 and shift 0.
@compute @workgroup_size(WG)
fn fill_uniform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    let s = slot(i);
    out[p.offset + i] = bitcast<u32>(p.shift + p.scale * rng_uniform(s.draw, s.index));
}

// Normal with mean `shift` and standard deviation `scale`.
@compute @workgroup_size(WG)
fn fill_normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    let s = slot(i);
    out[p.offset + i] = bitcast<u32>(p.shift + p.scale * rng_normal(s.draw, s.index));
}

// Integers uniform in [0, n), e.g. minibatch indices into a dataset of n rows.
@compute @workgroup_size(WG)
fn fill_indices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if i >= p.count {
        return;
    }
    let s = slot(i);
    out[p.offset + i] = rng_index(s.draw, s.index, p.n);
}
