// Gaussian Fourier time embedding, concatenated with the other inputs of the velocity network:
//
//     out[row, :] = [ x[row, 0..x_dim],
//                     sin(2π·t[row]·w[j]) for j < F/2,
//                     cos(2π·t[row]·w[j]) for j < F/2,
//                     cond[row / repeat, 0..cond_dim] ]
//
// w holds the F/2 fixed random frequencies (QGPO: drawn once from N(0, 30²), F = 32), kept in a
// buffer so a checkpoint carries them. `repeat` lets one conditioning row (a state) feed that
// many consecutive rows (the M + 1 actions of its support set). Any of x_dim, F/2 and cond_dim
// may be zero. All matrices are row-major and dense; every buffer has its own offset.
//
// Copies of one network (one per seed) embed their rows in one dispatch: with copy_rows > 0,
// row r belongs to copy r / copy_rows, which reads its own frequencies (w_copy_stride apart)
// and either its own conditioning rows (cond_copy_rows apart) or, with 0, the shared ones.
//
// One invocation per output element: the work is a gather, with nothing to share between
// invocations, so there is no workgroup memory and no barrier.

struct Embedding {
    rows: u32,
    x_dim: u32,
    frequencies: u32,  // F/2: the embedding has a sine and a cosine per frequency
    cond_dim: u32,
    repeat: u32,       // output rows per conditioning row (0 is read as 1)
    x_off: u32,
    t_off: u32,
    w_off: u32,
    cond_off: u32,
    out_off: u32,
    copy_rows: u32,       // rows per copy; 0: one network
    w_copy_stride: u32,   // frequencies between copies
    cond_copy_rows: u32,  // conditioning rows between copies; 0 shares them
}

var<immediate> p: Embedding;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> cond: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;


@compute @workgroup_size(WG)
fn embed_time(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = p.x_dim + 2u * p.frequencies + p.cond_dim;
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.rows * width {
        return;
    }
    let row = i / width;
    let col = i % width;
    let copy = select(0u, row / p.copy_rows, p.copy_rows > 0u);
    let local_row = row - copy * p.copy_rows;
    var value: f32;
    if col < p.x_dim {
        value = x[p.x_off + row * p.x_dim + col];
    } else if col < p.x_dim + 2u * p.frequencies {
        let j = col - p.x_dim;
        let use_sin = j < p.frequencies;
        let frequency = w[p.w_off + copy * p.w_copy_stride + select(j - p.frequencies, j, use_sin)];
        value = fourier_feature(t[p.t_off + row], frequency, use_sin);
    } else {
        let cond_row = copy * p.cond_copy_rows + local_row / max(p.repeat, 1u);
        value = cond[p.cond_off + cond_row * p.cond_dim + (col - p.x_dim - 2u * p.frequencies)];
    }
    out[p.out_off + i] = value;
}
