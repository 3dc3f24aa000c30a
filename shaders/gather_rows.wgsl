// Gathers rows of a row-major table by index:
//     out[r, :] = src[indices[r], :]    for r in 0..rows
// e.g. a minibatch of transitions drawn from the dataset with indices from the GPU RNG.
//
// One invocation per output element. The data is moved as raw 32-bit words, never as floats,
// so every row arrives bit for bit whatever it holds (f32 or u32).
//
// Copies of a network (one per seed) can gather from tables of their own in one dispatch: with
// copy_rows > 0, output row r belongs to copy r / copy_rows, which reads the table of src_rows
// rows starting that many tables after src_off.
//
// An index past the last source row fills its output row with all-ones words, a NaN as f32:
// a bad index then surfaces as a NaN loss instead of a silently wrong row.

struct Params {
    rows: u32,       // output rows (= indices used)
    width: u32,      // values per row
    src_rows: u32,   // rows of the source table
    index_off: u32,  // first index used
    src_off: u32,    // element where the source table starts
    out_off: u32,    // element where the output starts
    copy_rows: u32,  // output rows per copy; 0: one table for all
}

const BAD_INDEX: u32 = 0xFFFFFFFFu;

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> indices: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.rows * p.width {
        return;
    }
    let row = i / p.width;
    let column = i % p.width;
    let index = indices[p.index_off + row];
    var word = BAD_INDEX;
    let table = select(0u, row / p.copy_rows, p.copy_rows > 0u);
    if index < p.src_rows {
        word = src[p.src_off + (table * p.src_rows + index) * p.width + column];
    }
    out[p.out_off + i] = word;
}
