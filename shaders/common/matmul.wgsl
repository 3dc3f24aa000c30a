// The matrix-product core shared by the linear layer's forward and backward kernels.
//
// C = A·B where A is m×k and B is k×n, each read through a (offset, row stride, column
// stride) view of a flat buffer. The three products of a linear layer differ only in those
// strides: Y = X·Wᵀ, dX = dZ·W and dW = dZᵀ·X, so one core serves them all.
//
// Each invocation computes a 4×4 block of C in registers, reading A and B straight from
// memory: no workgroup memory and no barriers, which keeps CPU drivers (lavapipe) fast.

struct Matmul {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_off: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    c_off: u32,      // C is stored densely, row stride n
    bias_off: u32,   // where the bias starts in `b` (forward) or `c` (bias gradient)
    z_off: u32,      // where the pre-activation is stored (forward)
    act: u32,        // activation code, see activations.wgsl
    flags: u32,      // FLAG_* below
}

const FLAG_BIAS: u32 = 1u;        // forward: add the bias
const FLAG_STORE_Z: u32 = 2u;     // forward: keep the pre-activation for the backward pass
const FLAG_ACCUMULATE: u32 = 4u;  // backward: add to the output instead of overwriting it

const BLOCK: u32 = 4u;  // outputs per invocation along each axis
const WG: u32 = 16u;    // invocations per workgroup along each axis: a 64×64 tile of C

var<immediate> p: Matmul;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;

// The 4×4 block of A·B whose top-left element is (row0, col0). Rows and columns past the
// edge are clamped to the last one, so every load is in bounds; callers drop those results.
fn matmul_block(row0: u32, col0: u32) -> array<vec4<f32>, 4> {
    let rows = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    let a_rows = vec4<u32>(p.a_off) + rows * p.a_row_stride;
    let b_cols = vec4<u32>(p.b_off) + cols * p.b_col_stride;
    var acc = array<vec4<f32>, 4>();
    for (var kk = 0u; kk < p.k; kk += 1u) {
        let ia = a_rows + kk * p.a_col_stride;
        let ib = b_cols + kk * p.b_row_stride;
        let av = vec4<f32>(a[ia.x], a[ia.y], a[ia.z], a[ia.w]);
        let bv = vec4<f32>(b[ib.x], b[ib.y], b[ib.z], b[ib.w]);
        acc[0] += av.x * bv;
        acc[1] += av.y * bv;
        acc[2] += av.z * bv;
        acc[3] += av.w * bv;
    }
    return acc;
}
