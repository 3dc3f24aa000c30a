// Euler sampling of a small batch in one dispatch: one workgroup per sample runs all N steps
// of the flow, x ← x + v(x, k/N, cond)/N from x0 ~ N(0, I), with the velocity network's
// every layer in between, keeping the sample's activations in workgroup memory.
//
// This is the evaluation path: one action for each of a few states. The batched sampler
// (time_embedding, linear_forward, euler_step) records a handful of dispatches per Euler step,
// whose launch latency dominates when there are only a few rows; here the whole sampling is
// one dispatch. It computes what the batched sampler computes: the same noise (element
// row·dim + j of the draw, as the fill kernel writes it), the same input row
// [x, sin(2π t w), cos(2π t w), cond], the same layers and the same clip after the last step.
//
// The network is read from a flat parameter buffer through a table of its layers (in, out,
// weight offset, bias offset), so any depth works; every width must fit MAX_WIDTH and the
// output MAX_DIM (the host checks, and falls back to the batched sampler otherwise). Each
// weight matrix is stored transposed (in×out): invocation o computes output o, and for every
// input i the invocations read consecutive addresses, which the GPU coalesces.

struct Params {
    draw: RngDraw,     // the starting noise
    rows: u32,
    dim: u32,
    cond_dim: u32,
    frequencies: u32,  // F/2
    layers: u32,
    steps: u32,
    act: u32,          // the hidden layers' activation; the output layer has none
    clip: u32,         // 1: clip to [low, high] after the last step
    low: f32,
    high: f32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read> shapes: array<u32>;  // 4 per layer: in, out, weight_off, bias_off
@group(0) @binding(2) var<storage, read> frequencies: array<f32>;
@group(0) @binding(3) var<storage, read> cond: array<f32>;
@group(0) @binding(4) var<storage, read_write> samples: array<f32>;

const WG: u32 = 256u;
const MAX_WIDTH: u32 = 1024u;
const MAX_DIM: u32 = 64u;

// Two buffers of activations: each layer reads one and writes the other.
var<workgroup> h: array<f32, 2048>;
var<workgroup> x: array<f32, MAX_DIM>;

// Input element i of the network for the sample's current x at time t.
fn input(i: u32, row: u32, t: f32) -> f32 {
    if i < p.dim {
        return x[i];
    }
    let j = i - p.dim;
    if j < 2u * p.frequencies {
        let use_sin = j < p.frequencies;
        return fourier_feature(t, frequencies[select(j - p.frequencies, j, use_sin)], use_sin);
    }
    return cond[row * p.cond_dim + (j - 2u * p.frequencies)];
}

@compute @workgroup_size(WG)
fn sample_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    // One sample per workgroup: the whole workgroup returns together, so barriers stay uniform.
    let row = wid.x + wid.y * groups.x;
    if row >= p.rows {
        return;
    }
    let me = lid.x;
    for (var j = me; j < p.dim; j += WG) {
        x[j] = rng_normal(p.draw, row * p.dim + j);
    }
    workgroupBarrier();
    let width = p.dim + 2u * p.frequencies + p.cond_dim;
    for (var k = 0u; k < p.steps; k += 1u) {
        let t = f32(k) / f32(p.steps);
        for (var i = me; i < width; i += WG) {
            h[i] = input(i, row, t);
        }
        workgroupBarrier();
        var src = 0u;
        var dst = MAX_WIDTH;
        for (var l = 0u; l < p.layers; l += 1u) {
            let in_dim = shapes[4u * l];
            let out_dim = shapes[4u * l + 1u];
            let weight = shapes[4u * l + 2u];
            let bias = shapes[4u * l + 3u];
            let act = select(p.act, ACT_IDENTITY, l + 1u == p.layers);
            for (var o = me; o < out_dim; o += WG) {
                var z = params[bias + o];
                for (var i = 0u; i < in_dim; i += 1u) {
                    z += params[weight + i * out_dim + o] * h[src + i];
                }
                h[dst + o] = activate(z, act);
            }
            workgroupBarrier();
            let swap = src;
            src = dst;
            dst = swap;
        }
        // The velocity is in h[src..src + dim].
        let last = k + 1u == p.steps;
        for (var j = me; j < p.dim; j += WG) {
            var next = x[j] + (1.0 / f32(p.steps)) * h[src + j];
            if last && p.clip != 0u {
                next = clamp(next, p.low, p.high);
            }
            x[j] = next;
        }
        workgroupBarrier();
    }
    for (var j = me; j < p.dim; j += WG) {
        samples[row * p.dim + j] = x[j];
    }
}
