//! Kernel throughput: the linear layer's forward and backward in GFLOP/s at QIPO's shapes
//! and at 4096³ on every matmul core (the ladder of [`Core::LADDER`], so one run shows which
//! core wins where), and the Adam step in µs, each beside its CPU reference.

use std::time::Instant;

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::gpu::{Gpu, GpuBuffer, GpuTimer, Recorder};
use crate::kernels::adam::Adam;
use crate::kernels::linear::{BackwardOffsets, Core, ForwardOffsets, InputGradient, LinearBackward, LinearForward};
use crate::nn::{Activation, MlpSpec};
use crate::ops::AdamConfig;
use crate::ops::LayerShape;
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

/// One core's GFLOP/s at one shape: null where the device cannot run that core there (an
/// operand too short for vec4 reads, or too few storage buffers per shader stage).
#[derive(Debug, Clone, Serialize)]
pub struct CoreResult {
    /// The core's number on the ladder ([`Core::LADDER`]), from 1.
    pub core: usize,
    pub name: String,
    pub forward_gflops: Option<f64>,
    pub backward_gflops: Option<f64>,
}

/// One row of the linear-layer table: every core on the ladder side by side.
#[derive(Debug, Clone, Serialize)]
pub struct LinearResult {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub cores: Vec<CoreResult>,
    /// The number of the core qipo runs this shape on, here (by adapter type, or QIPO_MATMUL).
    pub chosen_core: usize,
    /// The numbers of the fastest cores at this shape.
    pub fastest_forward_core: Option<usize>,
    pub fastest_backward_core: Option<usize>,
    pub cpu_forward_gflops: f64,
    pub cpu_backward_gflops: f64,
    /// Whether GPU times come from GPU timestamps (else from the wall clock around a submit).
    pub gpu_timestamps: bool,
}

/// Work per measurement: enough to time reliably, little enough for a CPU driver.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Floating-point operations per linear-layer measurement on the GPU.
    pub gpu_flops: f64,
    /// The CPU reference runs on a slice of the rows, so slow shapes stay quick; GFLOP/s is a rate.
    pub cpu_flops: f64,
    /// Parameter updates per Adam measurement: enough steps in one submit that the
    /// per-submit cost vanishes.
    pub gpu_updates: usize,
    pub cpu_updates: usize,
}

impl Budgets {
    pub const FULL: Budgets =
        Budgets { gpu_flops: 4e9, cpu_flops: 2e8, gpu_updates: 100_000_000, cpu_updates: 20_000_000 };
    /// A twentieth of [`Budgets::FULL`]: seconds on a CPU driver.
    pub const QUICK: Budgets =
        Budgets { gpu_flops: 2e8, cpu_flops: 1e7, gpu_updates: 5_000_000, cpu_updates: 1_000_000 };
}

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

/// One layer shape's operands on the GPU, which the kernels of every core bind.
struct LayerBuffers {
    rows: usize,
    layer: LayerShape,
    x: GpuBuffer,
    params: GpuBuffer,
    y: GpuBuffer,
    z: GpuBuffer,
    dy: GpuBuffer,
    grads: GpuBuffer,
    dx: GpuBuffer,
}

impl LayerBuffers {
    fn new(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize) -> Result<Self> {
        let (layer, x, params, dy) = linear_inputs(rows, in_dim, out_dim);
        Ok(Self {
            rows,
            layer,
            x: GpuBuffer::from_slice(gpu, "x", &x)?,
            params: GpuBuffer::from_slice(gpu, "params", &params)?,
            y: GpuBuffer::zeros(gpu, "y", rows * out_dim)?,
            z: GpuBuffer::zeros(gpu, "z", rows * out_dim)?,
            dy: GpuBuffer::from_slice(gpu, "dy", &dy)?,
            grads: GpuBuffer::zeros(gpu, "grads", params.len())?,
            dx: GpuBuffer::zeros(gpu, "dx", rows * in_dim)?,
        })
    }

    /// The forward and backward kernels on `core` (which may fall back to the direct core:
    /// see their `core()`).
    fn kernels(&self, gpu: &Gpu, core: Core) -> Result<(LinearForward, LinearBackward)> {
        let forward = LinearForward::with_core(gpu, core, &self.x, &self.params, &self.y, &self.z)?;
        let dx = Some(InputGradient::plain(&self.dx));
        let backward = LinearBackward::with_core(gpu, core, &self.x, &self.z, &self.params, &self.dy, &self.grads, dx)?;
        Ok((forward, backward))
    }

    fn forward_flops(&self) -> f64 {
        2.0 * (self.rows * self.layer.in_dim * self.layer.out_dim) as f64
    }

    /// GFLOP/s of the forward and of the backward (dX and dW), each repeated until about
    /// `flop_budget` operations (at most 200 times), and whether GPU timestamps timed them.
    fn time(&self, gpu: &Gpu, kernels: &(LinearForward, LinearBackward), flop_budget: f64) -> Result<(f64, f64, bool)> {
        let (forward, backward) = kernels;
        let (layer, rows, act) = (&self.layer, self.rows, Activation::Relu);
        let forward_flops = self.forward_flops();
        let backward_flops = 2.0 * forward_flops;
        let reps = ((flop_budget / forward_flops) as usize).clamp(1, 200);
        let keep_z = ForwardOffsets { z: Some(0), ..Default::default() };
        let (t_fwd, stamps) = time_gpu(gpu, reps, |rec| forward.record(rec, layer, act, rows, keep_z))?;
        let (t_bwd, _) =
            time_gpu(gpu, reps, |rec| backward.record(rec, layer, act, rows, BackwardOffsets::default(), false))?;
        Ok((forward_flops / t_fwd / 1e9, backward_flops / t_bwd / 1e9, stamps))
    }
}

/// The number of a core that ran (never [`Core::Auto`]).
fn number(core: Core) -> usize {
    core.number().expect("a bound layer runs on a core of the ladder")
}

/// The linear layer's kernels alone, on the core qipo picks: GFLOP/s of the forward and the backward.
#[derive(Debug, Clone, Serialize)]
pub struct LinearGpuResult {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    /// The number of the core that ran.
    pub core: usize,
    pub forward_gflops: f64,
    pub backward_gflops: f64,
    /// Whether the times come from GPU timestamps (else from the wall clock around a submit).
    pub gpu_timestamps: bool,
}

/// Times the forward and the backward kernels on the core qipo picks, repeating each until
/// about `flop_budget` floating-point operations (at most 200 repetitions).
pub fn linear_gpu(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize, flop_budget: f64) -> Result<LinearGpuResult> {
    let buffers = LayerBuffers::new(gpu, rows, in_dim, out_dim)?;
    let kernels = buffers.kernels(gpu, Core::Auto)?;
    let (forward_gflops, backward_gflops, gpu_timestamps) = buffers.time(gpu, &kernels, flop_budget)?;
    Ok(LinearGpuResult {
        rows,
        in_dim,
        out_dim,
        core: number(kernels.0.core()),
        forward_gflops,
        backward_gflops,
        gpu_timestamps,
    })
}

/// The fastest core by `gflops`, among those that ran.
fn fastest(cores: &[CoreResult], gflops: impl Fn(&CoreResult) -> Option<f64>) -> Option<usize> {
    cores.iter().filter_map(|c| Some((c.core, gflops(c)?))).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(core, _)| core)
}

/// Every core on the ladder at one shape, and the CPU reference.
pub fn linear(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize, budgets: Budgets) -> Result<LinearResult> {
    let buffers = LayerBuffers::new(gpu, rows, in_dim, out_dim)?;
    let chosen_core = number(buffers.kernels(gpu, Core::Auto)?.0.core());
    let mut cores = Vec::new();
    let mut stamped = true;
    for core in Core::LADDER {
        let kernels = buffers.kernels(gpu, core)?;
        let runs = kernels.0.core() == core && kernels.1.core() == core;
        let timed = if runs { Some(buffers.time(gpu, &kernels, budgets.gpu_flops)?) } else { None };
        stamped &= timed.is_none_or(|t| t.2);
        cores.push(CoreResult {
            core: number(core),
            name: core.name().to_string(),
            forward_gflops: timed.map(|t| t.0),
            backward_gflops: timed.map(|t| t.1),
        });
    }

    let act = Activation::Relu;
    let (layer, x, params, dy) = linear_inputs(rows, in_dim, out_dim);
    let forward_flops = buffers.forward_flops();
    let backward_flops = 2.0 * forward_flops;
    let cpu_rows = ((budgets.cpu_flops / forward_flops * rows as f64) as usize).clamp(1, rows);
    let (w, b) = params.split_at(layer.bias_off);
    let xs = &x[..cpu_rows * in_dim];
    let cpu_shape = reference::linear::Dense { rows: cpu_rows, in_dim, out_dim, act };
    let t_cpu_fwd = time_cpu(|| {
        std::hint::black_box(reference::linear::forward(xs, w, b, cpu_shape));
    });
    let (z, _) = reference::linear::forward(xs, w, b, cpu_shape);
    let dys = &dy[..cpu_rows * out_dim];
    let t_cpu_bwd = time_cpu(|| {
        std::hint::black_box(reference::linear::backward(xs, w, &z, dys, cpu_shape));
    });
    let cpu_scale = cpu_rows as f64 / rows as f64;
    Ok(LinearResult {
        rows,
        in_dim,
        out_dim,
        chosen_core,
        fastest_forward_core: fastest(&cores, |c| c.forward_gflops),
        fastest_backward_core: fastest(&cores, |c| c.backward_gflops),
        cores,
        cpu_forward_gflops: forward_flops * cpu_scale / t_cpu_fwd / 1e9,
        cpu_backward_gflops: backward_flops * cpu_scale / t_cpu_bwd / 1e9,
        gpu_timestamps: stamped,
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

pub fn adam(gpu: &Gpu, network: &str, params: usize, budgets: Budgets) -> Result<AdamResult> {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let theta = random(&mut rng, params, 0.1);
    let grads = random(&mut rng, params, 1.0);
    let plain = AdamConfig::default();
    // Far below the random gradients' norm, so the clipping really scales them.
    let clipped = AdamConfig { max_grad_norm: 1.0, ..plain };

    let p_buf = GpuBuffer::from_slice(gpu, "params", &theta)?;
    let g_buf = GpuBuffer::from_slice(gpu, "grads", &grads)?;
    let reps = (budgets.gpu_updates / params.max(1)).clamp(5, 1000);
    let mut gpu_us = Vec::new();
    let mut stamps = true;
    for config in [plain, clipped] {
        let mut adam = Adam::new(gpu, &p_buf, &g_buf, config)?;
        let (seconds, timed) = time_gpu(gpu, reps, |rec| adam.record_step(rec))?;
        gpu_us.push(seconds * 1e6);
        stamps &= timed;
    }

    let steps = (budgets.cpu_updates / params.max(1)).clamp(1, 100);
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

/// Both tables (serialised as one object with keys `device`, `linear` and `adam`).
#[derive(Debug, Clone, Serialize)]
pub struct KernelBench {
    pub device: String,
    pub linear: Vec<LinearResult>,
    pub adam: Vec<AdamResult>,
}

/// Every shape of [`LINEAR_SHAPES`] on every core (on a CPU driver the largest shapes only
/// with `large`: they take minutes there), then Adam at every size of [`adam_sizes`].
pub fn run(gpu: &Gpu, large: bool, budgets: Budgets, mut progress: impl FnMut(&str)) -> Result<KernelBench> {
    let mut linear_results = Vec::new();
    let include_large = large || gpu.info.device_type != wgpu::DeviceType::Cpu;
    for &(rows, in_dim, out_dim) in &LINEAR_SHAPES {
        if !include_large && is_large(rows, in_dim, out_dim) {
            continue;
        }
        progress(&format!("linear {rows}x{in_dim}->{out_dim}"));
        linear_results.push(linear(gpu, rows, in_dim, out_dim, budgets)?);
    }
    let mut adam_results = Vec::new();
    for (network, params) in adam_sizes() {
        progress(&format!("adam {network} ({params} parameters)"));
        adam_results.push(adam(gpu, network, params, budgets)?);
    }
    Ok(KernelBench { device: gpu.describe(), linear: linear_results, adam: adam_results })
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
    let names: Vec<String> = Core::LADDER.iter().map(|&c| format!("{} {}", number(c), c.name())).collect();
    let mut out = format!(
        "linear layer on {}: every matmul core at every shape ({}); * marks the core qipo picks here\n",
        gpu.describe(),
        names.join(", ")
    );
    let cores_width = 12 * names.len();
    out += &format!(
        "{:>20} | {:<cores_width$} | {:<cores_width$} | {:>7} | {:>19}\n",
        "", "forward GFLOP/s", "backward GFLOP/s", "fastest", "CPU GFLOP/s"
    );
    let core_names: String = names.iter().map(|n| format!("{n:>12}")).collect();
    out += &format!(
        "{:>6} {:>6} {:>6} | {core_names} | {core_names} | {:>3} {:>3} | {:>9} {:>9}\n",
        "rows", "in", "out", "fwd", "bwd", "fwd", "bwd"
    );
    let number_or_dash = |n: Option<usize>| n.map_or("-".to_string(), |n| n.to_string());
    for r in results {
        let cells = |gflops: fn(&CoreResult) -> Option<f64>| -> String {
            r.cores
                .iter()
                .map(|c| {
                    let mark = if c.core == r.chosen_core { "*" } else { " " };
                    let value = gflops(c).map_or("n/a".to_string(), |g| format!("{g:.2}"));
                    format!("{:>11}{mark}", value)
                })
                .collect()
        };
        out += &format!(
            "{:>6} {:>6} {:>6} | {} | {} | {:>3} {:>3} | {:>9.2} {:>9.2}\n",
            r.rows,
            r.in_dim,
            r.out_dim,
            cells(|c| c.forward_gflops),
            cells(|c| c.backward_gflops),
            number_or_dash(r.fastest_forward_core),
            number_or_dash(r.fastest_backward_core),
            r.cpu_forward_gflops,
            r.cpu_backward_gflops
        );
    }
    let stamped = results.iter().all(|r| r.gpu_timestamps);
    out += &format!(
        "GPU times from {}; n/a: the core cannot run that shape here; CPU = the single-threaded reference in src/reference.\n",
        clock(stamped)
    );
    out
}
