// The workgroup-memory core of the matrix products, for GPUs (see matmul.wgsl for the views).
//
// Same blocks as matmul_direct: each invocation computes 4×4 outputs of a 64×64 tile of C.
// The workgroup walks k in steps of TILE_K, staging A's 64×TILE_K tile and B's TILE_K×64 tile
// in workgroup memory, so each value read from global memory serves 16 invocations and the
// inner loop reads two vec4s per 16 multiply-adds.
//
// For each step every invocation fetches one quad (4 values) of each tile. A quad runs along
// its operand's contiguous axis and is a single vec4 load, through the vec4 views a4 and b4
// (declared by each kernel file, bound to the same buffers as a and B's source), when every quad is
// 16-byte aligned: the product's offset and the other axis's stride multiples of 4, and the
// contiguous axis's length too, so a quad is wholly inside the matrix or wholly outside.
// Otherwise it is four scalar loads, each checked against the edges. Values outside are zero.

const TILE: u32 = 64u;             // WG · BLOCK
const TILE_K: u32 = 16u;
const QUADS: u32 = TILE / 4u;      // vec4s across a tile
const TILE_VEC4S: u32 = TILE_K * QUADS;

// A's tile, then B's, each k-major: vec4 kk·QUADS + i of a tile holds A[4i..4i+3, kk]
// (B[kk, 4i..4i+3]), so each invocation reads its 4 rows (columns) at one k with one vec4 load.
const A_TILE: u32 = 0u;
const B_TILE: u32 = TILE_VEC4S;
var<workgroup> tiles: array<vec4<f32>, 2u * TILE_VEC4S>;

// One operand as the tile loader sees it: `wide` is the axis the tile is 64 long on (rows of
// A, columns of B), the other is k.
struct Operand {
    start: u32,
    wide_stride: u32,
    k_stride: u32,
    wide_len: u32,
    along_k: bool,  // quads run along k (k is the contiguous axis), else along `wide`
    vector: bool,   // quads are single vec4 loads
}

fn operand(start: u32, wide_stride: u32, k_stride: u32, wide_len: u32) -> Operand {
    let along_k = k_stride == 1u;
    let quad_stride = select(wide_stride, k_stride, along_k);
    let other_stride = select(k_stride, wide_stride, along_k);
    let quad_len = select(wide_len, p.k, along_k);
    let vector = quad_stride == 1u && start % 4u == 0u && other_stride % 4u == 0u && quad_len % 4u == 0u;
    return Operand(start, wide_stride, k_stride, wide_len, along_k, vector);
}

// The (wide, k) position in the tile of the first value of invocation `t`'s quad: 256
// invocations cover the 64×16 tile, consecutive invocations reading consecutive quads.
fn quad_position(op: Operand, t: u32) -> vec2<u32> {
    if op.along_k {
        return vec2<u32>(t / (TILE_K / 4u), (t % (TILE_K / 4u)) * 4u);
    }
    return vec2<u32>((t % QUADS) * 4u, t / QUADS);
}

// The quad at (wide, kk) of the operand: index of its first value, distance between its
// values, and which of them lie inside the matrix.
struct Quad {
    index: u32,
    step: u32,
    inside: vec4<bool>,
}

fn quad(op: Operand, wide: u32, kk: u32) -> Quad {
    let offsets = vec4<u32>(0u, 1u, 2u, 3u);
    let wides = vec4<u32>(wide) + select(offsets, vec4<u32>(0u), op.along_k);
    let ks = vec4<u32>(kk) + select(vec4<u32>(0u), offsets, op.along_k);
    let inside = (wides < vec4<u32>(op.wide_len)) & (ks < vec4<u32>(p.k));
    let step = select(op.wide_stride, op.k_stride, op.along_k);
    return Quad(op.start + wide * op.wide_stride + kk * op.k_stride, step, inside);
}

fn fetch_a(op: Operand, q: Quad) -> vec4<f32> {
    var v = vec4<f32>();
    if op.vector {
        if q.inside.x {
            v = a4[q.index / 4u];
        }
    } else {
        for (var i = 0u; i < 4u; i += 1u) {
            if q.inside[i] {
                v[i] = a[q.index + i * q.step];
            }
        }
    }
    return v;
}

fn fetch_b(op: Operand, q: Quad) -> vec4<f32> {
    var v = vec4<f32>();
    if op.vector {
        if q.inside.x {
            v = b_quad(q.index / 4u);
        }
    } else {
        for (var i = 0u; i < 4u; i += 1u) {
            if q.inside[i] {
                v[i] = b_value(q.index + i * q.step);
            }
        }
    }
    return v;
}

// Writes a fetched quad at `pos` (wide, k) into the tile starting at `tile`.
fn stage(tile: u32, op: Operand, pos: vec2<u32>, v: vec4<f32>) {
    if op.along_k {
        for (var i = 0u; i < 4u; i += 1u) {
            tiles[tile + (pos.y + i) * QUADS + pos.x / 4u][pos.x % 4u] = v[i];
        }
    } else {
        tiles[tile + pos.y * QUADS + pos.x / 4u] = v;
    }
}

// The invocation's Block (see matmul.wgsl), at block_origin(gid). Every invocation of the
// workgroup must call it, blocks outside C included: they help load the tiles.
//
// Row sums are needed only in C's first column of blocks, by invocations x = 0 of the first
// column of workgroups; each adds its 4 rows of A's tile k after k, as matmul_direct does, so
// the sums come out with the same bits.
fn matmul_tiled(wid: vec3<u32>, lid: vec3<u32>) -> Block {
    let t = lid.y * WG + lid.x;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let sum_rows = keeps_row_sums(vec2<u32>(row0, col0));  // the same for the whole workgroup
    let a_op = operand(a_start(wid.z), p.a_row_stride, p.a_col_stride, p.m);
    let b_op = operand(b_start(wid.z), p.b_col_stride, p.b_row_stride, p.n);
    let a_pos = quad_position(a_op, t);
    let b_pos = quad_position(b_op, t);
    var acc = array<vec4<f32>, 4>();
    var row_sums = vec4<f32>();
    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
        // Fetching before the barrier overlaps the loads with other invocations' arithmetic.
        let av = fetch_a(a_op, quad(a_op, row0 + a_pos.x, k0 + a_pos.y));
        let bv = fetch_b(b_op, quad(b_op, col0 + b_pos.x, k0 + b_pos.y));
        workgroupBarrier();  // the previous tiles are no longer read
        stage(A_TILE, a_op, a_pos, av);
        stage(B_TILE, b_op, b_pos, bv);
        workgroupBarrier();
        if sum_rows && lid.x == 0u {
            for (var kk = 0u; kk < min(TILE_K, p.k - k0); kk += 1u) {
                row_sums += tiles[A_TILE + kk * QUADS + lid.y];
            }
        }
        for (var kk = 0u; kk < TILE_K; kk += 1u) {
            add_outer(&acc, tiles[A_TILE + kk * QUADS + lid.y], tiles[B_TILE + kk * QUADS + lid.x]);
        }
    }
    return Block(acc, row_sums);
}
