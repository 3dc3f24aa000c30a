//! Kernel throughput: the linear layer's forward and backward in GFLOP/s at QIPO's shapes
//! and at 4096³, and the Adam step in µs, each beside its CPU reference.

use std::time::Instant;

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::gpu::{Gpu, GpuBuffer, GpuTimer, Recorder};
use crate::kernels::linear::{BackwardOffsets, LayerShape, LinearBackward, LinearForward};
use crate::nn::Activation;
use crate::reference;
use crate::selftest::random;

/// (rows, in, out): a QIPO minibatch of 256 states, a policy-improvement batch of
/// 256 × (M + 1) = 4352 rows, input widths from 17 (observations) to 1024, and 4096³.
pub const LINEAR_SHAPES: [(usize, usize, usize); 8] = [
    (256, 17, 256),
    (256, 256, 256),
    (256, 256, 1),
    (4352, 55, 256),
    (4352, 256, 256),
    (4352, 256, 6),
    (4352, 1024, 1024),
    (4096, 4096, 4096),
];

/// One row of the linear-layer table.
#[derive(Debug, Clone, Serialize)]
pub struct LinearResult {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub gpu_forward_gflops: f64,
    pub gpu_backward_gflops: f64,
    pub cpu_forward_gflops: f64,
    pub cpu_backward_gflops: f64,
    /// Whether GPU times come from GPU timestamps (else from the wall clock around a submit).
    pub gpu_timestamps: bool,
}

/// Floating-point operations budget per measurement: enough repetitions to time reliably.
const GPU_FLOP_BUDGET: f64 = 4e9;
/// The CPU reference runs on a slice of the rows, so slow shapes stay quick; GFLOP/s is a rate.
const CPU_FLOP_BUDGET: f64 = 2e8;

/// Seconds per repetition of `body`, recorded `reps` times into one submit after a warm-up
/// (which also compiles the pipelines).
fn time_gpu(gpu: &Gpu, reps: usize, body: impl Fn(&mut Recorder)) -> Result<(f64, bool)> {
    let mut warm = Recorder::new(gpu);
    body(&mut warm);
    warm.submit_and_wait()?;
    let timer = GpuTimer::new(gpu, 1)?;
    let mut rec = Recorder::new(gpu);
    rec.timed(&timer, 0, |rec| (0..reps).for_each(|_| body(rec)));
    rec.resolve(&timer);
    let start = Instant::now();
    rec.submit_and_wait()?;
    let wall = start.elapsed().as_secs_f64();
    let gpu_ms = timer.read_ms(gpu)?;
    match gpu_ms.first() {
        Some(&ms) if ms > 0.0 => Ok((ms / 1e3 / reps as f64, true)),
        _ => Ok((wall / reps as f64, false)),
    }
}

fn time_cpu(body: impl Fn()) -> f64 {
    body(); // warm caches
    let start = Instant::now();
    body();
    start.elapsed().as_secs_f64()
}

pub fn linear(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize) -> Result<LinearResult> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let act = Activation::Relu;
    let layer = LayerShape { in_dim, out_dim, weight_off: 0, bias_off: in_dim * out_dim };
    let x = random(&mut rng, rows * in_dim, 1.0);
    let params = random(&mut rng, layer.bias_off + out_dim, 0.1);
    let dy = random(&mut rng, rows * out_dim, 1.0);

    let x_buf = GpuBuffer::from_slice(gpu, "x", &x)?;
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params)?;
    let y_buf = GpuBuffer::zeros(gpu, "y", rows * out_dim)?;
    let z_buf = GpuBuffer::zeros(gpu, "z", rows * out_dim)?;
    let dy_buf = GpuBuffer::from_slice(gpu, "dy", &dy)?;
    let g_buf = GpuBuffer::zeros(gpu, "grads", params.len())?;
    let dx_buf = GpuBuffer::zeros(gpu, "dx", rows * in_dim)?;
    let forward = LinearForward::new(gpu, &x_buf, &p_buf, &y_buf, &z_buf)?;
    let backward = LinearBackward::new(gpu, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, Some(&dx_buf))?;

    let forward_flops = 2.0 * (rows * in_dim * out_dim) as f64;
    let backward_flops = 2.0 * forward_flops; // dX and dW
    let reps = ((GPU_FLOP_BUDGET / forward_flops) as usize).clamp(1, 200);
    let (t_fwd, stamps) = time_gpu(gpu, reps, |rec| forward.record(rec, &layer, act, rows, 0, 0, Some(0)))?;
    let (t_bwd, _) =
        time_gpu(gpu, reps, |rec| backward.record(rec, &layer, act, rows, BackwardOffsets::default(), false))?;

    let cpu_rows = ((CPU_FLOP_BUDGET / forward_flops * rows as f64) as usize).clamp(1, rows);
    let (w, b) = params.split_at(layer.bias_off);
    let xs = &x[..cpu_rows * in_dim];
    let t_cpu_fwd = time_cpu(|| {
        std::hint::black_box(reference::linear::forward(xs, w, b, cpu_rows, in_dim, out_dim, act));
    });
    let (z, _) = reference::linear::forward(xs, w, b, cpu_rows, in_dim, out_dim, act);
    let dys = &dy[..cpu_rows * out_dim];
    let t_cpu_bwd = time_cpu(|| {
        std::hint::black_box(reference::linear::backward(xs, w, &z, dys, cpu_rows, in_dim, out_dim, act));
    });
    let cpu_scale = cpu_rows as f64 / rows as f64;
    Ok(LinearResult {
        rows,
        in_dim,
        out_dim,
        gpu_forward_gflops: forward_flops / t_fwd / 1e9,
        gpu_backward_gflops: backward_flops / t_bwd / 1e9,
        cpu_forward_gflops: forward_flops * cpu_scale / t_cpu_fwd / 1e9,
        cpu_backward_gflops: backward_flops * cpu_scale / t_cpu_bwd / 1e9,
        gpu_timestamps: stamps,
    })
}

/// The whole table: every shape of [`LINEAR_SHAPES`] (the largest ones only with `large`).
pub fn run(gpu: &Gpu, large: bool, mut progress: impl FnMut(&str)) -> Result<Vec<LinearResult>> {
    let mut results = Vec::new();
    for &(rows, in_dim, out_dim) in &LINEAR_SHAPES {
        if !large && rows * in_dim * out_dim > 1 << 30 {
            continue;
        }
        progress(&format!("linear {rows}x{in_dim}->{out_dim}"));
        results.push(linear(gpu, rows, in_dim, out_dim)?);
    }
    Ok(results)
}

/// The table as text.
pub fn format_table(gpu: &Gpu, results: &[LinearResult]) -> String {
    let mut out = format!("linear layer on {}\n", gpu.describe());
    out += &format!(
        "{:>6} {:>6} {:>6} | {:>12} {:>12} | {:>12} {:>12}\n",
        "rows", "in", "out", "GPU fwd", "CPU fwd", "GPU bwd", "CPU bwd"
    );
    out += &format!("{:>20} | {:>25} | {:>25}\n", "", "GFLOP/s", "GFLOP/s");
    for r in results {
        out += &format!(
            "{:>6} {:>6} {:>6} | {:>12.2} {:>12.2} | {:>12.2} {:>12.2}\n",
            r.rows,
            r.in_dim,
            r.out_dim,
            r.gpu_forward_gflops,
            r.cpu_forward_gflops,
            r.gpu_backward_gflops,
            r.cpu_backward_gflops
        );
    }
    let clock = if results.iter().all(|r| r.gpu_timestamps) { "GPU timestamps" } else { "wall clock per submit" };
    out += &format!("GPU times from {clock}; CPU = the single-threaded reference in src/reference.\n");
    out
}
