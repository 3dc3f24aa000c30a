// Minibatch rows gathered from up to three tables by one set of indices drawn inline:
//     index_r   = rng_index(draw of r's copy, r's row within its copy, n)
//     out_t[r, :] = src_t[index_r, :]    for each table t and r in 0..rows
// index_r is exactly what rng.wgsl's fill_indices writes for element r of that draw, so a
// minibatch gathered here is the one a fill of indices followed by a gather per table would
// give, in one dispatch and without an index buffer. Dispatches gathering more tables for the
// same minibatch pass the same draw.
//
// One invocation per output value; the three tables' rows are laid side by side. The data is
// moved as raw 32-bit words, never as floats, so every row arrives bit for bit.
//
// Copies of a network (one per seed) draw and gather in one dispatch: with copy_rows > 0,
// output row r belongs to copy r / copy_rows, which draws as a run with the seed + copy would
// (rng_copy_draw) and reads its own table of a source whose copy stride is not 0. With
// copies_per_seed > 1, consecutive copies draw the same indices, their seed's
// (rng_seed_copy_draw), each still reading its own table.

struct Params {
    draw: RngDraw,
    rows: u32,       // output rows, all copies
    copy_rows: u32,  // output rows per copy; 0: one copy
    n: u32,          // rows of each source table: indices are drawn in [0, n)
    width0: u32,     // values per row of each table (0: the table is not used)
    width1: u32,
    width2: u32,
    stride0: u32,    // elements between copies' tables of each source; 0: one table for all
    stride1: u32,
    stride2: u32,
    copies_per_seed: u32,  // consecutive copies drawing as one seed; 0 or 1: each its own
}

var<immediate> p: Params;

@group(0) @binding(0) var<storage, read> src0: array<u32>;
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;
@group(0) @binding(2) var<storage, read> src1: array<u32>;
@group(0) @binding(3) var<storage, read_write> out1: array<u32>;
@group(0) @binding(4) var<storage, read> src2: array<u32>;
@group(0) @binding(5) var<storage, read_write> out2: array<u32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    let width = p.width0 + p.width1 + p.width2;
    if i >= p.rows * width {
        return;
    }
    let row = i / width;
    var column = i % width;
    var copy = 0u;
    var draw = p.draw;
    var element = row;
    if p.copy_rows > 0u {
        copy = row / p.copy_rows;
        draw = rng_seed_copy_draw(p.draw, copy, p.copies_per_seed);
        element = row - copy * p.copy_rows;
    }
    let index = rng_index(draw, element, p.n);
    if column < p.width0 {
        out0[row * p.width0 + column] = src0[copy * p.stride0 + index * p.width0 + column];
        return;
    }
    column -= p.width0;
    if column < p.width1 {
        out1[row * p.width1 + column] = src1[copy * p.stride1 + index * p.width1 + column];
        return;
    }
    column -= p.width1;
    out2[row * p.width2 + column] = src2[copy * p.stride2 + index * p.width2 + column];
}
