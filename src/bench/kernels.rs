//! Kernel throughput: the linear layer's forward and backward in GFLOP/s at QIPO's shapes
//! and at 4096³, and the Adam step in µs, each beside its CPU reference.

use std::time::Instant;

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::gpu::{Gpu, GpuBuffer, GpuTimer, Recorder};
use crate::kernels::adam::{Adam, AdamConfig};
use crate::kernels::linear::{BackwardOffsets, InputGradient, LayerShape, LinearBackward, LinearForward};
use crate::nn::{Activation, MlpSpec};
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
fn time_gpu(gpu: &Gpu, reps: usize, mut body: impl FnMut(&mut Recorder)) -> Result<(f64, bool)> {
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

fn time_cpu(mut body: impl FnMut()) -> f64 {
    body(); // warm caches
    let start = Instant::now();
    body();
    start.elapsed().as_secs_f64()
}

/// The layer and its random inputs: X, parameters (weights then bias) and dY.
fn linear_inputs(rows: usize, in_dim: usize, out_dim: usize) -> (LayerShape, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let layer = LayerShape { in_dim, out_dim, weight_off: 0, bias_off: in_dim * out_dim };
    let x = random(&mut rng, rows * in_dim, 1.0);
    let params = random(&mut rng, layer.bias_off + out_dim, 0.1);
    let dy = random(&mut rng, rows * out_dim, 1.0);
    (layer, x, params, dy)
}

/// The linear layer's kernels alone: GFLOP/s of the forward and the backward.
#[derive(Debug, Clone, Serialize)]
pub struct LinearGpuResult {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub forward_gflops: f64,
    pub backward_gflops: f64,
    /// Whether the times come from GPU timestamps (else from the wall clock around a submit).
    pub gpu_timestamps: bool,
}

/// Times the forward and the backward kernels, repeating each until about `flop_budget`
/// floating-point operations (at most 200 repetitions).
pub fn linear_gpu(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize, flop_budget: f64) -> Result<LinearGpuResult> {
    let act = Activation::Relu;
    let (layer, x, params, dy) = linear_inputs(rows, in_dim, out_dim);
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x)?;
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params)?;
    let y_buf = GpuBuffer::zeros(gpu, "y", rows * out_dim)?;
    let z_buf = GpuBuffer::zeros(gpu, "z", rows * out_dim)?;
    let dy_buf = GpuBuffer::from_slice(gpu, "dy", &dy)?;
    let g_buf = GpuBuffer::zeros(gpu, "grads", params.len())?;
    let dx_buf = GpuBuffer::zeros(gpu, "dx", rows * in_dim)?;
    let forward = LinearForward::new(gpu, &x_buf, &p_buf, &y_buf, &z_buf)?;
    let backward =
        LinearBackward::new(gpu, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, Some(InputGradient::plain(&dx_buf)))?;

    let forward_flops = 2.0 * (rows * in_dim * out_dim) as f64;
    let backward_flops = 2.0 * forward_flops; // dX and dW
    let reps = ((flop_budget / forward_flops) as usize).clamp(1, 200);
    let (t_fwd, stamps) = time_gpu(gpu, reps, |rec| forward.record(rec, &layer, act, rows, 0, 0, Some(0)))?;
    let (t_bwd, _) =
        time_gpu(gpu, reps, |rec| backward.record(rec, &layer, act, rows, BackwardOffsets::default(), false))?;
    Ok(LinearGpuResult {
        rows,
        in_dim,
        out_dim,
        forward_gflops: forward_flops / t_fwd / 1e9,
        backward_gflops: backward_flops / t_bwd / 1e9,
        gpu_timestamps: stamps,
    })
}

pub fn linear(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize) -> Result<LinearResult> {
    let gpu_result = linear_gpu(gpu, rows, in_dim, out_dim, GPU_FLOP_BUDGET)?;
    let act = Activation::Relu;
    let (layer, x, params, dy) = linear_inputs(rows, in_dim, out_dim);
    let forward_flops = 2.0 * (rows * in_dim * out_dim) as f64;
    let backward_flops = 2.0 * forward_flops;
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
        gpu_forward_gflops: gpu_result.forward_gflops,
        gpu_backward_gflops: gpu_result.backward_gflops,
        cpu_forward_gflops: forward_flops * cpu_scale / t_cpu_fwd / 1e9,
        cpu_backward_gflops: backward_flops * cpu_scale / t_cpu_bwd / 1e9,
        gpu_timestamps: gpu_result.gpu_timestamps,
    })
}

/// The parameter counts of QIPO's networks, and a round million.
pub fn adam_sizes() -> [(&'static str, usize); 3] {
    let policy = MlpSpec::new(6 + 32 + 17, &[256, 256, 256], 6, Activation::Mish);
    let critic = MlpSpec::new(17 + 6, &[256, 256, 256], 1, Activation::Relu);
    [("policy", policy.param_count()), ("critic", critic.param_count()), ("1M", 1_000_000)]
}

/// One row of the Adam table: microseconds per optimiser step over one flat buffer.
#[derive(Debug, Clone, Serialize)]
pub struct AdamResult {
    pub network: String,
    pub params: usize,
    pub gpu_us: f64,
    /// With global-norm clipping: the norm's reduction before the update.
    pub gpu_clipped_us: f64,
    pub cpu_us: f64,
    pub cpu_clipped_us: f64,
    pub gpu_timestamps: bool,
}

/// Parameter updates per measurement: enough steps in one submit that the per-submit cost
/// vanishes, few enough that a CPU driver finishes in seconds.
const GPU_UPDATE_BUDGET: usize = 100_000_000;
const CPU_UPDATE_BUDGET: usize = 20_000_000;

pub fn adam(gpu: &Gpu, network: &str, params: usize) -> Result<AdamResult> {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let theta = random(&mut rng, params, 0.1);
    let grads = random(&mut rng, params, 1.0);
    let plain = AdamConfig::default();
    // Far below the random gradients' norm, so the clipping really scales them.
    let clipped = AdamConfig { max_grad_norm: 1.0, ..plain };

    let p_buf = GpuBuffer::from_slice(gpu, "params", &theta)?;
    let g_buf = GpuBuffer::from_slice(gpu, "grads", &grads)?;
    let reps = (GPU_UPDATE_BUDGET / params.max(1)).clamp(50, 1000);
    let mut gpu_us = Vec::new();
    let mut stamps = true;
    for config in [plain, clipped] {
        let mut adam = Adam::new(gpu, &p_buf, &g_buf, config)?;
        let (seconds, timed) = time_gpu(gpu, reps, |rec| adam.record_step(rec))?;
        gpu_us.push(seconds * 1e6);
        stamps &= timed;
    }

    let steps = (CPU_UPDATE_BUDGET / params.max(1)).clamp(1, 100);
    let mut cpu_us = Vec::new();
    for config in [plain, clipped] {
        let mut theta = theta.clone();
        let mut state = reference::adam::AdamState::new(params);
        let seconds = time_cpu(|| {
            for _ in 0..steps {
                reference::adam::step(&mut theta, &grads, &mut state, &config);
            }
            std::hint::black_box(&theta);
        });
        cpu_us.push(seconds * 1e6 / steps as f64);
    }
    Ok(AdamResult {
        network: network.to_string(),
        params,
        gpu_us: gpu_us[0],
        gpu_clipped_us: gpu_us[1],
        cpu_us: cpu_us[0],
        cpu_clipped_us: cpu_us[1],
        gpu_timestamps: stamps,
    })
}

/// Both tables (serialised as one object with keys `linear` and `adam`).
#[derive(Debug, Clone, Serialize)]
pub struct KernelBench {
    pub linear: Vec<LinearResult>,
    pub adam: Vec<AdamResult>,
}

/// Every shape of [`LINEAR_SHAPES`] (on a CPU driver the largest ones only with `large`: they
/// take minutes there), then Adam at every
/// size of [`adam_sizes`].
pub fn run(gpu: &Gpu, large: bool, mut progress: impl FnMut(&str)) -> Result<KernelBench> {
    let mut linear_results = Vec::new();
    let include_large = large || gpu.info.device_type != wgpu::DeviceType::Cpu;
    for &(rows, in_dim, out_dim) in &LINEAR_SHAPES {
        if !include_large && is_large(rows, in_dim, out_dim) {
            continue;
        }
        progress(&format!("linear {rows}x{in_dim}->{out_dim}"));
        linear_results.push(linear(gpu, rows, in_dim, out_dim)?);
    }
    let mut adam_results = Vec::new();
    for (network, params) in adam_sizes() {
        progress(&format!("adam {network} ({params} parameters)"));
        adam_results.push(adam(gpu, network, params)?);
    }
    Ok(KernelBench { linear: linear_results, adam: adam_results })
}

/// The shapes that take minutes on a CPU driver.
pub fn is_large(rows: usize, in_dim: usize, out_dim: usize) -> bool {
    rows * in_dim * out_dim > 1 << 30
}

/// Both tables as text.
pub fn format_table(gpu: &Gpu, results: &KernelBench) -> String {
    let mut out = format_linear(gpu, &results.linear);
    out += "\n";
    out += &format_adam(gpu, &results.adam);
    out
}

fn clock(all_stamped: bool) -> &'static str {
    if all_stamped {
        "GPU timestamps"
    } else {
        "wall clock per submit"
    }
}

fn format_adam(gpu: &Gpu, results: &[AdamResult]) -> String {
    let mut out = format!("Adam step on {}\n", gpu.describe());
    out += &format!(
        "{:>8} {:>9} | {:>10} {:>10} | {:>10} {:>10}\n",
        "network", "params", "GPU", "CPU", "GPU clip", "CPU clip"
    );
    out += &format!("{:>18} | {:>21} | {:>21}\n", "", "µs/step", "µs/step");
    for r in results {
        out += &format!(
            "{:>8} {:>9} | {:>10.1} {:>10.1} | {:>10.1} {:>10.1}\n",
            r.network, r.params, r.gpu_us, r.cpu_us, r.gpu_clipped_us, r.cpu_clipped_us
        );
    }
    let stamped = results.iter().all(|r| r.gpu_timestamps);
    out += &format!("GPU times from {}, many steps per submit; clip = global-norm clipping.\n", clock(stamped));
    out
}

fn format_linear(gpu: &Gpu, results: &[LinearResult]) -> String {
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
    let stamped = results.iter().all(|r| r.gpu_timestamps);
    out += &format!("GPU times from {}; CPU = the single-threaded reference in src/reference.\n", clock(stamped));
    out
}
