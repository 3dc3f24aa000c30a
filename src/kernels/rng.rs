//! Counter-based random numbers: `shaders/common/rng.wgsl` (Philox4x32-10, drawn inline by any
//! kernel) and the fill kernels of `shaders/rng.wgsl`.
//!
//! Every number is a pure function of (seed, stream, call, element index). The host hands out
//! the call counters ([`RngStream`]), so the whole random sequence of a run is fixed by its
//! seed and the order of the record calls, and nothing is ever read back to advance a state.

use anyhow::{bail, Result};

use super::snippets::RNG;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const FILL_SRC: Source = ("rng.wgsl", include_str!("../../shaders/rng.wgsl"));

/// The stream ids: one independent stream of numbers per purpose. They match the
/// `RNG_STREAM_*` constants of shaders/common/rng.wgsl; a new purpose takes the next number.
pub mod streams {
    /// Ad hoc draws (tools, tests).
    pub const GENERAL: u32 = 0;
    /// Minibatch indices into the dataset.
    pub const MINIBATCH: u32 = 1;
    /// Flow-matching source noise x0.
    pub const FLOW_NOISE: u32 = 2;
    /// Flow-matching times t.
    pub const FLOW_TIME: u32 = 3;
    /// Starting noise of the support-action sampler.
    pub const SUPPORT: u32 = 4;
    /// Starting noise of evaluation and toy sampling.
    pub const POLICY_NOISE: u32 = 5;
    /// Network initialisation.
    pub const INIT: u32 = 6;

    /// Every stream with its WGSL name, for the test that keeps both sides in step.
    pub const ALL: [(&str, u32); 7] = [
        ("RNG_STREAM_GENERAL", GENERAL),
        ("RNG_STREAM_MINIBATCH", MINIBATCH),
        ("RNG_STREAM_FLOW_NOISE", FLOW_NOISE),
        ("RNG_STREAM_FLOW_TIME", FLOW_TIME),
        ("RNG_STREAM_SUPPORT", SUPPORT),
        ("RNG_STREAM_POLICY_NOISE", POLICY_NOISE),
        ("RNG_STREAM_INIT", INIT),
    ];
}

/// The counter words of one draw (`struct RngDraw` in shaders/common/rng.wgsl). Kernels that
/// draw numbers inline carry one in their immediates.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RngDraw {
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub stream: u32,
    pub call: u32,
}

impl RngDraw {
    pub fn new(seed: u64, stream: u32, call: u32) -> Self {
        Self { seed_lo: seed as u32, seed_hi: (seed >> 32) as u32, stream, call }
    }

    /// The draw copy `copy` of a network makes in a dispatch over copies (`rng_copy_draw` in
    /// shaders/common/rng.wgsl): the seed advanced by `copy`, as a run with that seed draws.
    pub fn for_copy(&self, copy: u32) -> Self {
        let seed = (self.seed_lo as u64 | (self.seed_hi as u64) << 32).wrapping_add(copy as u64);
        Self::new(seed, self.stream, self.call)
    }
}

/// One stream of draws: a seed, a purpose, and how many draws were handed out so far.
///
/// Each record call that draws numbers takes a fresh draw from its stream with
/// [`RngStream::next_draw`], so no two calls ever see the same numbers. The state is three
/// plain numbers: save `calls` with a checkpoint to resume the exact sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStream {
    pub seed: u64,
    pub stream: u32,
    /// Draws handed out so far: the call counter of the next draw.
    pub calls: u32,
}

impl RngStream {
    pub fn new(seed: u64, stream: u32) -> Self {
        Self { seed, stream, calls: 0 }
    }

    /// The next draw; advances the call counter (wrapping after 2^32 draws).
    pub fn next_draw(&mut self) -> RngDraw {
        let draw = self.peek();
        self.calls = self.calls.wrapping_add(1);
        draw
    }

    /// The draw `next_draw` would return, without advancing.
    pub fn peek(&self) -> RngDraw {
        RngDraw::new(self.seed, self.stream, self.calls)
    }
}

use Access::ReadWrite;

/// The raw first word of each element's block. Binding: the output (u32).
pub const FILL_BITS: Kernel = Kernel { sources: &[RNG, FILL_SRC], entry: "fill_bits", bindings: &[ReadWrite] };
/// Uniform floats. Binding: the output (f32).
pub const FILL_UNIFORM: Kernel = Kernel { entry: "fill_uniform", ..FILL_BITS };
/// Normal floats. Binding: the output (f32).
pub const FILL_NORMAL: Kernel = Kernel { entry: "fill_normal", ..FILL_BITS };
/// Integers in [0, n). Binding: the output (u32).
pub const FILL_INDICES: Kernel = Kernel { entry: "fill_indices", ..FILL_BITS };

pub const KERNELS: [Kernel; 4] = [FILL_BITS, FILL_UNIFORM, FILL_NORMAL, FILL_INDICES];

/// The immediates of the fill kernels (`struct Fill` in shaders/rng.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FillParams {
    pub draw: RngDraw,
    pub offset: u32,
    pub count: u32,
    pub n: u32,
    pub scale: f32,
    pub shift: f32,
    pub copy_len: u32,
    pub first: u32,
}

/// What a fill kernel writes into each element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Raw 32-bit words (u32 buffer).
    Bits,
    /// Uniform in (low, high) (f32 buffer); (0, 1) never gives exactly 0 or 1.
    Uniform { low: f32, high: f32 },
    /// Normal with the given mean and standard deviation (f32 buffer).
    Normal { mean: f32, std: f32 },
    /// Integers uniform in [0, n) (u32 buffer), e.g. minibatch indices into n dataset rows.
    Index { n: u32 },
}

impl Distribution {
    pub const UNIT_UNIFORM: Self = Self::Uniform { low: 0.0, high: 1.0 };
    pub const STANDARD_NORMAL: Self = Self::Normal { mean: 0.0, std: 1.0 };

    fn kernel(&self) -> &'static Kernel {
        match self {
            Self::Bits => &FILL_BITS,
            Self::Uniform { .. } => &FILL_UNIFORM,
            Self::Normal { .. } => &FILL_NORMAL,
            Self::Index { .. } => &FILL_INDICES,
        }
    }

    fn check(&self) -> Result<()> {
        match *self {
            Self::Uniform { low, high } if !(low.is_finite() && high.is_finite() && low <= high) => {
                bail!("uniform range ({low}, {high}) must be finite with low <= high")
            }
            Self::Normal { mean, std } if !(mean.is_finite() && std.is_finite() && std >= 0.0) => {
                bail!("normal distribution needs a finite mean and std >= 0, got mean {mean}, std {std}")
            }
            Self::Index { n: 0 } => bail!("random indices in [0, n) need n >= 1"),
            _ => Ok(()),
        }
    }

    /// (n, scale, shift) of the kernel's immediates.
    fn params(&self) -> (u32, f32, f32) {
        match *self {
            Self::Bits => (0, 1.0, 0.0),
            Self::Uniform { low, high } => (0, high - low, low),
            Self::Normal { mean, std } => (0, std, mean),
            Self::Index { n } => (n, 1.0, 0.0),
        }
    }
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// A fill kernel bound to its output buffer: writes `count` values of one distribution at an
/// offset, a fresh draw each time.
pub struct RngFill {
    bound: Bound,
    distribution: Distribution,
    out_len: usize,
}

impl RngFill {
    /// Fails on a distribution without valid parameters (n = 0, high < low, std < 0, NaN).
    pub fn new(gpu: &Gpu, out: &GpuBuffer, distribution: Distribution) -> Result<Self> {
        distribution.check()?;
        let bound = Bound::new(gpu, distribution.kernel(), &[out])?;
        Ok(Self { bound, distribution, out_len: out.len })
    }

    pub fn distribution(&self) -> Distribution {
        self.distribution
    }

    /// Records out[offset..offset + count] = fresh values, taking the next draw of `rng`.
    pub fn record(&self, rec: &mut Recorder, rng: &mut RngStream, offset: usize, count: usize) {
        self.record_draw(rec, rng.next_draw(), offset, count);
    }

    /// Records a fill for copies of a network: `copies` blocks of `copy_len` values from
    /// `offset` on, block c drawn as a run with the stream's seed + c would draw it.
    pub fn record_copies(
        &self,
        rec: &mut Recorder,
        rng: &mut RngStream,
        offset: usize,
        copies: usize,
        copy_len: usize,
    ) {
        self.record_part(rec, rng.next_draw(), offset, copies, copy_len, 0);
    }

    /// Records a fill with an explicit draw: the same draw always writes the same values.
    pub fn record_draw(&self, rec: &mut Recorder, draw: RngDraw, offset: usize, count: usize) {
        self.record_part(rec, draw, offset, 1, count, 0);
    }

    /// Records part of a draw for copies: each copy's `copy_len` values are elements `first`,
    /// `first + 1`, ... of its draw, so a draw filled in parts gives what one fill would.
    pub fn record_part(
        &self,
        rec: &mut Recorder,
        draw: RngDraw,
        offset: usize,
        copies: usize,
        copy_len: usize,
        first: usize,
    ) {
        let count = copies * copy_len;
        assert!(
            offset + count <= self.out_len,
            "random fill of {count} at {offset} overruns a buffer of {}",
            self.out_len
        );
        if count == 0 {
            return;
        }
        let (n, scale, shift) = self.distribution.params();
        let copy_len = if copies > 1 { u(copy_len) } else { 0 };
        let params =
            FillParams { draw, offset: u(offset), count: u(count), n, scale, shift, copy_len, first: u(first) };
        self.bound.record_1d(rec, &params, count);
    }
}
