// The sum of a workgroup's 256 values, for kernels that run a workgroup per block of rows and
// write each block's total (a loss per copy of a network) without a reduction dispatch after.
//
// Invocation lid contributes the sum of its rows lid, lid + 256, ... taken in order; the 256
// partial sums are added by halving, each step separated by a barrier, exactly as
// reduce.wgsl's reduce_rows adds a row: the totals are those a reduction of the per-row
// values would give. Three sums travel together (the x, y and z of `value`).

var<workgroup> block_partial: array<vec3<f32>, 256>;

// Every invocation of the workgroup must call it; the total is valid in invocation 0.
fn block_sum(lid: u32, value: vec3<f32>) -> vec3<f32> {
    block_partial[lid] = value;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if lid < half {
            block_partial[lid] += block_partial[lid + half];
        }
        workgroupBarrier();
    }
    return block_partial[0];
}
