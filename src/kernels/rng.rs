//! Counter-based random numbers: `shaders/common/rng.wgsl` (Philox4x32-10, drawn inline by any
//! kernel) and the fill kernels of `shaders/rng.wgsl`.
//!
//! Every number is a pure function of (seed, stream, call, element index); the draws and
//! streams that hand out the counters are in [`crate::random`].

use anyhow::{bail, Result};

use super::snippets::RNG;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::random::{RngDraw, RngStream};

const FILL_SRC: Source = ("rng.wgsl", include_str!("../../shaders/rng.wgsl"));

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
    /// Consecutive copies that draw as one seed (0 or 1: each copy its own seed).
    pub copies_per_seed: u32,
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
    copies_per_seed: usize,
}

impl RngFill {
    /// Fails on a distribution without valid parameters (n = 0, high < low, std < 0, NaN).
    pub fn new(gpu: &Gpu, out: &GpuBuffer, distribution: Distribution) -> Result<Self> {
        distribution.check()?;
        let bound = Bound::new(gpu, distribution.kernel(), &[out])?;
        Ok(Self { bound, distribution, out_len: out.len, copies_per_seed: 1 })
    }

    /// The fill for copies of a network of which each seed trains `copies_per_seed`
    /// consecutive ones (a grid of settings per seed): those draw the same numbers, their
    /// seed's.
    pub fn with_copies_per_seed(self, copies_per_seed: usize) -> Self {
        Self { copies_per_seed: copies_per_seed.max(1), ..self }
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
        let params = FillParams {
            draw,
            offset: u(offset),
            count: u(count),
            n,
            scale,
            shift,
            copy_len,
            first: u(first),
            copies_per_seed: u(self.copies_per_seed),
        };
        self.bound.record_1d(rec, &params, count);
    }
}
