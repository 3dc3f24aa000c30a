//! The time embedding and input concatenation of the velocity network:
//! `shaders/time_embedding.wgsl`.
//!
//! Each row of the network's input is [x, sin(2π t w), cos(2π t w), cond]: the noisy action,
//! Gaussian Fourier features of its time (QGPO's `GaussianFourierProjection`) and the state it
//! is conditioned on. The frequencies w are drawn once ([`fourier_frequencies`]) and stored in
//! a buffer, so they are saved with the model's parameters.

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::snippets::FOURIER;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

const SRC: Source = ("time_embedding.wgsl", include_str!("../../shaders/time_embedding.wgsl"));

use Access::{Read, ReadWrite};

/// Bindings: x, t, w (frequencies), cond, out.
pub const EMBED_TIME: Kernel =
    Kernel { sources: &[FOURIER, SRC], entry: "embed_time", bindings: &[Read, Read, Read, Read, ReadWrite] };

pub const KERNELS: [Kernel; 1] = [EMBED_TIME];

/// QGPO's embedding width F: 16 frequencies, each giving a sine and a cosine.
pub const DEFAULT_FEATURES: usize = 32;
/// QGPO's standard deviation of the frequencies.
pub const DEFAULT_SCALE: f32 = 30.0;

/// `count` frequencies drawn from N(0, scale²) with a seeded generator: the same seed gives
/// the same embedding on every machine.
pub fn fourier_frequencies(seed: u64, count: usize, scale: f32) -> Result<Vec<f32>> {
    if !(scale.is_finite() && scale > 0.0) {
        bail!("the time embedding's frequency scale must be a positive number, got {scale}");
    }
    let normal = Normal::new(0.0f32, scale)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..count).map(|_| normal.sample(&mut rng)).collect())
}

/// The layout of one embedded row: `x_dim` inputs, `2·frequencies` Fourier features, then
/// `cond_dim` conditioning inputs, each conditioning row shared by `repeat` consecutive rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingShape {
    pub x_dim: usize,
    pub frequencies: usize,
    pub cond_dim: usize,
    pub repeat: usize,
}

impl EmbeddingShape {
    /// Checks the configuration: `features` (F) must be even and `repeat` at least 1.
    pub fn new(x_dim: usize, features: usize, cond_dim: usize, repeat: usize) -> Result<Self> {
        if !features.is_multiple_of(2) {
            bail!("the time embedding needs an even number of features (a sine and a cosine per frequency), got {features}");
        }
        if repeat == 0 {
            bail!("each conditioning row must feed at least one row (repeat >= 1)");
        }
        Ok(Self { x_dim, frequencies: features / 2, cond_dim, repeat })
    }

    /// F, the number of Fourier features.
    pub fn features(&self) -> usize {
        2 * self.frequencies
    }

    /// Elements per output row.
    pub fn width(&self) -> usize {
        self.x_dim + self.features() + self.cond_dim
    }

    /// Conditioning rows read for `rows` output rows.
    pub fn cond_rows(&self, rows: usize) -> usize {
        rows.div_ceil(self.repeat.max(1))
    }
}

/// Where each operand starts in its buffer, in elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingOffsets {
    pub x: usize,
    pub t: usize,
    pub w: usize,
    pub cond: usize,
    pub out: usize,
}

/// The immediates of the kernel (`struct Embedding` in shaders/time_embedding.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmbeddingParams {
    pub rows: u32,
    pub x_dim: u32,
    pub frequencies: u32,
    pub cond_dim: u32,
    pub repeat: u32,
    pub x_off: u32,
    pub t_off: u32,
    pub w_off: u32,
    pub cond_off: u32,
    pub out_off: u32,
    pub copy_rows: u32,
    pub w_copy_stride: u32,
    pub cond_copy_rows: u32,
}

/// How the rows of copies of one network (one per seed) lie: `rows` per copy, each copy's
/// frequencies `w_stride` apart and its conditioning rows `cond_rows` apart (0 shares them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingCopies {
    pub rows: usize,
    pub w_stride: usize,
    pub cond_rows: usize,
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// The embedding kernel bound to its buffers.
pub struct TimeEmbedding(Bound);

impl TimeEmbedding {
    /// `x` is rows×x_dim, `t` one time per row, `w` the frequencies, `cond` one row per
    /// `repeat` rows, `out` rows×width. A part of zero width still needs a buffer (any will do).
    pub fn new(
        gpu: &Gpu,
        x: &GpuBuffer,
        t: &GpuBuffer,
        w: &GpuBuffer,
        cond: &GpuBuffer,
        out: &GpuBuffer,
    ) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &EMBED_TIME, &[x, t, w, cond, out])?))
    }

    /// Records `rows` embedded rows into `out` at `offsets.out`.
    pub fn record(&self, rec: &mut Recorder, shape: &EmbeddingShape, rows: usize, offsets: EmbeddingOffsets) {
        self.record_copies(rec, shape, rows, offsets, EmbeddingCopies::default());
    }

    /// Records `rows` embedded rows in all, `copies.rows` per copy of a network.
    pub fn record_copies(
        &self,
        rec: &mut Recorder,
        shape: &EmbeddingShape,
        rows: usize,
        offsets: EmbeddingOffsets,
        copies: EmbeddingCopies,
    ) {
        let n = rows * shape.width();
        if n == 0 {
            return;
        }
        let params = EmbeddingParams {
            rows: u(rows),
            x_dim: u(shape.x_dim),
            frequencies: u(shape.frequencies),
            cond_dim: u(shape.cond_dim),
            repeat: u(shape.repeat.max(1)),
            x_off: u(offsets.x),
            t_off: u(offsets.t),
            w_off: u(offsets.w),
            cond_off: u(offsets.cond),
            out_off: u(offsets.out),
            copy_rows: u(copies.rows),
            w_copy_stride: u(copies.w_stride),
            cond_copy_rows: u(copies.cond_rows),
        };
        self.0.record_1d(rec, &params, n);
    }
}
