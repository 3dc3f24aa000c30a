//! Which matmul core [`Core::Auto`] runs on a GPU: the one that is fastest there, measured.
//!
//! The cores compute the same products in the same order, so the choice changes only speed
//! (tests/kernel_linear.rs checks the bits).
//! Which one wins depends on the GPU's caches and workgroup memory, not on the vendor's name
//! (on an NVIDIA H200 the direct core beat the tiled one at every shape), so it is timed on
//! the device itself, once per process: a forward and a backward pass of a layer the size of
//! the policy's hidden layers during improvement, a few milliseconds on a GPU.

use std::time::Instant;

use anyhow::Result;

use super::linear::{BackwardOffsets, Core, ForwardOffsets, InputGradient, LinearBackward, LinearForward};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::nn::Activation;
use crate::ops::LayerShape;

/// The layer [`Core::Auto`] is timed on (rows, inputs, outputs): a batch of 256 states with
/// 16 support actions each through a 256-wide hidden layer.
pub const AUTO_SHAPE: (usize, usize, usize) = (4096, 256, 256);

/// Passes recorded into one submit, and submits per core (the fastest counts).
const REPS: usize = 8;
const TRIALS: usize = 3;

/// How long each core took for a forward and a backward pass of one layer.
#[derive(Clone, Debug)]
pub struct CoreTimes {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    /// Seconds per forward + backward pass, for every core of [`Core::LADDER`] that can run
    /// this layer here (the tiled core needs more bindings than some devices give).
    pub seconds: Vec<(Core, f64)>,
}

impl CoreTimes {
    /// The core that took the least time (the first of the ladder on a tie).
    pub fn fastest(&self) -> Core {
        let mut best = (Core::Direct, f64::INFINITY);
        for &(core, s) in &self.seconds {
            if s < best.1 {
                best = (core, s);
            }
        }
        best.0
    }

    /// One line for `qipo info`: each core's time and the choice.
    pub fn describe(&self) -> String {
        let times: Vec<String> =
            self.seconds.iter().map(|(core, s)| format!("{} {:.3} ms", core.name(), s * 1e3)).collect();
        format!(
            "{} (forward + backward of {}×{}→{}: {})",
            self.fastest().name(),
            self.rows,
            self.in_dim,
            self.out_dim,
            times.join(", ")
        )
    }
}

/// The times at [`AUTO_SHAPE`], measured on the first call and remembered for `gpu`.
pub fn auto_times(gpu: &Gpu) -> Result<std::sync::Arc<CoreTimes>> {
    let (rows, in_dim, out_dim) = AUTO_SHAPE;
    gpu.measured_once("matmul core", || time_cores(gpu, rows, in_dim, out_dim))
}

/// Times every core of the ladder on a `rows`×`in_dim`→`out_dim` layer.
pub fn time_cores(gpu: &Gpu, rows: usize, in_dim: usize, out_dim: usize) -> Result<CoreTimes> {
    let layer = LayerShape { in_dim, out_dim, weight_off: 0, bias_off: in_dim * out_dim };
    // Small values: the timing must not meet infinities or subnormals.
    let filled = |label: &str, len: usize| GpuBuffer::from_slice(gpu, label, &vec![0.01f32; len]);
    let x = filled("core timing x", rows * in_dim)?;
    let params = filled("core timing params", layer.bias_off + out_dim)?;
    let dy = filled("core timing dy", rows * out_dim)?;
    let (y, z) = (filled("core timing y", rows * out_dim)?, filled("core timing z", rows * out_dim)?);
    let grads = filled("core timing grads", layer.bias_off + out_dim)?;
    let dx = filled("core timing dx", rows * in_dim)?;
    let mut seconds = Vec::new();
    for core in Core::LADDER {
        let forward = LinearForward::with_core(gpu, core, &x, &params, &y, &z)?;
        let backward =
            LinearBackward::with_core(gpu, core, &x, &z, &params, &dy, &grads, Some(InputGradient::plain(&dx)))?;
        if forward.core() != core || backward.core() != core {
            continue; // this device cannot bind the core's buffers
        }
        let pass = |rec: &mut Recorder| {
            let keep_z = ForwardOffsets { z: Some(0), ..Default::default() };
            forward.record(rec, &layer, Activation::Relu, rows, keep_z);
            backward.record(rec, &layer, Activation::Relu, rows, BackwardOffsets::default(), false);
        };
        // The first submit compiles the pipelines and warms the caches.
        let mut warm = Recorder::new(gpu);
        pass(&mut warm);
        warm.submit_and_wait()?;
        let mut best = f64::INFINITY;
        for _ in 0..TRIALS {
            let mut rec = Recorder::new(gpu);
            (0..REPS).for_each(|_| pass(&mut rec));
            let start = Instant::now();
            rec.submit_and_wait()?;
            best = best.min(start.elapsed().as_secs_f64() / REPS as f64);
        }
        seconds.push((core, best));
    }
    Ok(CoreTimes { rows, in_dim, out_dim, seconds })
}

/// The core [`Core::Auto`] runs on `gpu`, and why, in words for `qipo info`.
pub fn explain_auto(gpu: &Gpu) -> Result<(Core, String)> {
    let core = Core::Auto.resolve(gpu)?;
    let why = if std::env::var(super::linear::CORE_VAR).is_ok_and(|v| v.parse::<Core>().is_ok_and(|c| c != Core::Auto))
    {
        format!("{} (set by {})", core.name(), super::linear::CORE_VAR)
    } else if gpu.info.device_type == wgpu::DeviceType::Cpu {
        format!("{} (a CPU driver)", core.name())
    } else {
        format!("{}, the fastest here", auto_times(gpu)?.describe())
    };
    Ok((core, why))
}
