// Copies, or adds, a block of columns from one row-major matrix into another:
//     dst[r, c] = src[r, c]    or, with `accumulate`,    dst[r, c] += src[r, c]
// for r < rows and c < width, each matrix read through its own (offset, row stride): a
// column block of a wider matrix is its first column's offset with the wider row stride.
// The residual velocity network is linear layers joined by this one kernel: it
// concatenates activations, adds the time term and the skip connection, splits the
// gradient of a concatenation and sums the gradients that flow back along two paths.
// Workgroup z is the copy (seed): copy k finds its blocks k copy strides further on.

struct Params {
    rows: u32,
    width: u32,
    src_off: u32,
    src_row_stride: u32,
    src_copy_stride: u32,
    dst_off: u32,
    dst_row_stride: u32,
    dst_copy_stride: u32,
    accumulate: u32,
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn columns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.rows * p.width {
        return;
    }
    let r = i / p.width;
    let c = i % p.width;
    let read_at = p.src_off + gid.z * p.src_copy_stride + r * p.src_row_stride + c;
    let write_at = p.dst_off + gid.z * p.dst_copy_stride + r * p.dst_row_stride + c;
    if p.accumulate != 0u {
        dst[write_at] += src[read_at];
    } else {
        dst[write_at] = src[read_at];
    }
}
