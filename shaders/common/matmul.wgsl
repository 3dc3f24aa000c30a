// The matrix products of the linear layer's kernels: their views, and the direct core.
//
// C = A·B where A is m×k and B is k×n, each read through a (offset, row stride, column
// stride) view of a flat buffer. The three products of a linear layer differ only in those
// strides: Y = X·Wᵀ, dX = dZ·W and dW = dZᵀ·X, so one core serves them all.
//
// One dispatch can compute a batch of products of the same shape, one per workgroup z index:
// product s finds each operand at its offset plus s times that operand's batch stride, so
// networks of one shape stored back to back run in the same dispatches. A and B may also be
// shared by consecutive products: with a group of g, products s and s' use the same A when
// s / g = s' / g (the twin critic heads of each seed read that seed's input).
//
// The cores compute the same 4×4 block of C per invocation, 64×64 per workgroup:
// matmul_direct (here) reads A and B straight from memory, with no workgroup memory and no
// barriers, which keeps CPU drivers (lavapipe) fast; matmul_direct_vec4 (here) is the same
// with vec4 loads along k where both operands run along k (the forward product X·Wᵀ);
// matmul_tiled (matmul_tiled.wgsl) stages them in workgroup memory.

struct Matmul {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    a_batch_stride: u32,
    b_off: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    b_batch_stride: u32,
    c_off: u32,          // C is stored densely, row stride n
    c_batch_stride: u32,
    bias_off: u32,       // the bias in `b` (forward) or its gradient (row sums) in `c`; moves with that buffer
    z_off: u32,          // the pre-activation (forward), laid out like C
    act: u32,            // activation code, see activations.wgsl
    flags: u32,          // FLAG_* below
    a_batch_group: u32,  // consecutive products sharing one A; 0 or 1: each its own
    b_batch_group: u32,  // likewise for B
}

const FLAG_BIAS: u32 = 1u;        // forward: add the bias
const FLAG_STORE_Z: u32 = 2u;     // forward: keep the pre-activation for the backward pass
const FLAG_ACCUMULATE: u32 = 4u;  // backward: add to the output instead of overwriting it
const FLAG_ROW_SUMS: u32 = 8u;    // also sum each row of A over k (the bias gradient, dZᵀ·1)
const FLAG_ACT_GRAD: u32 = 16u;   // backward dX: times act'(Z) of the layer below, giving its dZ

const BLOCK: u32 = 4u;  // outputs per invocation along each axis
const WG: u32 = 16u;    // invocations per workgroup along each axis: a 64×64 tile of C

// Each kernel file declares `p: Matmul`, the product being computed, and `b_value(i)` /
// `b_quad(i)`, how B's values (and, in the tiled core, its vec4s) are read.

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;

// Where product `copy` of the batch finds its operands.
fn a_start(copy: u32) -> u32 {
    return p.a_off + copy / max(p.a_batch_group, 1u) * p.a_batch_stride;
}

fn b_start(copy: u32) -> u32 {
    return p.b_off + copy / max(p.b_batch_group, 1u) * p.b_batch_stride;
}

fn c_start(copy: u32) -> u32 {
    return p.c_off + copy * p.c_batch_stride;
}

// The top-left element (row, column) of an invocation's 4×4 block, the same in both cores.
fn block_origin(gid: vec3<u32>) -> vec2<u32> {
    return vec2<u32>(gid.y, gid.x) * BLOCK;
}

// Whether an invocation's block lies wholly outside C (edge workgroups have some).
fn block_outside(gid: vec3<u32>) -> bool {
    let origin = block_origin(gid);
    return origin.x >= p.m || origin.y >= p.n;
}

// An invocation's 4×4 block of A·B and, with FLAG_ROW_SUMS in C's first column of blocks,
// the sums over k of A's 4 rows (zero elsewhere). The weight gradient's A is dZᵀ, whose row
// sums are the bias gradient: they come with the product, from the values it loads anyway.
struct Block {
    acc: array<vec4<f32>, 4>,
    row_sums: vec4<f32>,
}

fn keeps_row_sums(origin: vec2<u32>) -> bool {
    return (p.flags & FLAG_ROW_SUMS) != 0u && origin.y == 0u;
}

// Where the invocation's 4 rows of A and 4 columns of B start. Rows and columns past the edge
// are clamped to the last one, so every load is in bounds; callers drop those results.
fn block_a_rows(gid: vec3<u32>) -> vec4<u32> {
    let rows = min(vec4<u32>(block_origin(gid).x) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    return vec4<u32>(a_start(gid.z)) + rows * p.a_row_stride;
}

fn block_b_cols(gid: vec3<u32>) -> vec4<u32> {
    let cols = min(vec4<u32>(block_origin(gid).y) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    return vec4<u32>(b_start(gid.z)) + cols * p.b_col_stride;
}

// The invocation's block, for a block that is not outside C.
fn matmul_direct(gid: vec3<u32>) -> Block {
    let a_rows = block_a_rows(gid);
    let b_cols = block_b_cols(gid);
    let sum_rows = keeps_row_sums(block_origin(gid));
    var acc = array<vec4<f32>, 4>();
    var row_sums = vec4<f32>();
    for (var kk = 0u; kk < p.k; kk += 1u) {
        let av = a_column(a_rows, kk);
        add_outer(&acc, av, b_row(b_cols, kk));
        if sum_rows {
            row_sums += av;
        }
    }
    return Block(acc, row_sums);
}

// A's values at column kk of the 4 rows starting at `a_rows`, and B's at row kk of 4 columns.
fn a_column(a_rows: vec4<u32>, kk: u32) -> vec4<f32> {
    let i = a_rows + kk * p.a_col_stride;
    return vec4<f32>(a[i.x], a[i.y], a[i.z], a[i.w]);
}

fn b_row(b_cols: vec4<u32>, kk: u32) -> vec4<f32> {
    let i = b_cols + kk * p.b_row_stride;
    return vec4<f32>(b_value(i.x), b_value(i.y), b_value(i.z), b_value(i.w));
}

// One k's products into a 4×4 block: row i of the block gains av[i] times bv. Every core adds
// them this way, k after k, which is why they all give the same bits.
fn add_outer(acc: ptr<function, array<vec4<f32>, 4>>, av: vec4<f32>, bv: vec4<f32>) {
    (*acc)[0] += av.x * bv;
    (*acc)[1] += av.y * bv;
    (*acc)[2] += av.z * bv;
    (*acc)[3] += av.w * bv;
}

// Whether matmul_direct_vec4 can read this product: A's rows and B's columns both contiguous
// along k, and each of them starting on a vec4 in every copy.
fn reads_vec4_along_k() -> bool {
    let starts = p.a_off | p.a_batch_stride | p.a_row_stride | p.b_off | p.b_batch_stride | p.b_col_stride;
    return p.a_col_stride == 1u && p.b_row_stride == 1u && starts % 4u == 0u;
}

// matmul_direct's block, four k at a time: each of A's 4 rows and B's 4 columns is one vec4
// load per 4 k (through a4 and b_quad), a quarter of the loads, and on a GPU the loads of
// neighbouring invocations, which read different rows of W, use 4 times as much of each
// cache line. The same sums in the same order as matmul_direct, so the same results. Only
// for products where reads_vec4_along_k() holds; no row sums (the forward keeps none).
fn matmul_direct_vec4(gid: vec3<u32>) -> Block {
    let a_rows = block_a_rows(gid);
    let b_cols = block_b_cols(gid);
    var acc = array<vec4<f32>, 4>();
    let whole = p.k / 4u * 4u;
    for (var k0 = 0u; k0 < whole; k0 += 4u) {
        let ia = (a_rows + k0) / 4u;
        let ib = (b_cols + k0) / 4u;
        // Row i of A (column j of B) at k0..k0+3.
        let a_rows4 = mat4x4<f32>(a4[ia.x], a4[ia.y], a4[ia.z], a4[ia.w]);
        let b_cols4 = mat4x4<f32>(b_quad(ib.x), b_quad(ib.y), b_quad(ib.z), b_quad(ib.w));
        // transpose: column t holds the 4 rows' (columns') values at k0 + t.
        let av = transpose(a_rows4);
        let bv = transpose(b_cols4);
        for (var t = 0u; t < 4u; t += 1u) {
            add_outer(&acc, av[t], bv[t]);
        }
    }
    for (var kk = whole; kk < p.k; kk += 1u) {
        add_outer(&acc, a_column(a_rows, kk), b_row(b_cols, kk));
    }
    return Block(acc, vec4<f32>());
}
