//! The time embedding and input concatenation (`shaders/time_embedding.wgsl`) against its
//! CPU twin.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::time_embedding::{
    fourier_frequencies, EmbeddingOffsets, EmbeddingShape, TimeEmbedding, DEFAULT_SCALE, EMBED_TIME,
};
use crate::reference;

/// How close the embedding must be to the twin's.
#[derive(Debug, Clone, Copy)]
pub enum Tolerance {
    /// Every value relative to 1 + |cpu|.
    Relative(f32),
    /// Each Fourier feature within [`feature_tolerance`] of its time and frequency, and the
    /// copied values exact. The error is reported in units of those bounds.
    Features,
}

/// `rows` rows of [x, features, cond]: x in [-3, 3), times in [0, 1] (the first 0, the last
/// 1), frequencies drawn at the default scale, and conditioning rows in [-2, 2), each shared
/// by `repeat` rows.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub rows: usize,
    pub x_dim: usize,
    pub features: usize,
    pub cond_dim: usize,
    pub repeat: usize,
    pub seed: u64,
    pub tolerance: Tolerance,
}

/// The largest error the kernel may show on a Fourier feature: t·w is rounded to f32 on the
/// host and may be kept exact by a fused multiply-subtract on the device, half an ulp of t·w
/// (in turns) apart, plus the device's own sin/cos error.
pub fn feature_tolerance(time: f32, frequency: f32) -> f32 {
    1e-6 + std::f32::consts::TAU * (time * frequency).abs() * f32::EPSILON / 2.0
}

/// Runs the case with every buffer at its own offset (padded with -7) and NaN guards around
/// the output, which must stay NaN.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { rows, x_dim, features, cond_dim, repeat, seed, tolerance } = *case;
    let shape = EmbeddingShape::new(x_dim, features, cond_dim, repeat)?;
    let x = values(seed, rows * x_dim, 3.0);
    let mut t: Vec<f32> = values(seed + 1, rows, 0.5).iter().map(|v| v + 0.5).collect();
    if let Some(first) = t.first_mut() {
        *first = 0.0;
    }
    if rows > 1 {
        t[rows - 1] = 1.0;
    }
    let w = fourier_frequencies(seed + 2, shape.frequencies, DEFAULT_SCALE)?;
    let cond = values(seed + 3, shape.cond_rows(rows) * cond_dim, 2.0);
    let want = reference::time_embedding::embed(&x, &t, &w, &cond, x_dim, cond_dim, repeat);

    let offsets = EmbeddingOffsets { x: 1, t: 2, w: 3, cond: 4, out: 5 };
    let pad = |n: usize, v: &[f32]| [vec![-7.0; n], v.to_vec()].concat();
    let x_buf = GpuBuffer::from_slice(gpu, "x", &pad(offsets.x, &x))?;
    let t_buf = GpuBuffer::from_slice(gpu, "t", &pad(offsets.t, &t))?;
    let w_buf = GpuBuffer::from_slice(gpu, "frequencies", &pad(offsets.w, &w))?;
    let cond_buf = GpuBuffer::from_slice(gpu, "cond", &pad(offsets.cond, &cond))?;
    let out = GpuBuffer::from_slice(gpu, "embedded", &vec![f32::NAN; offsets.out + rows * shape.width() + 2])?;
    let op = TimeEmbedding::new(gpu, &x_buf, &t_buf, &w_buf, &cond_buf, &out)?;
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, &shape, rows, offsets);
    rec.submit_and_wait()?;
    let out: Vec<f32> = out.read(gpu)?;
    let (head, body) = out.split_at(offsets.out);
    let (got, tail) = body.split_at(rows * shape.width());
    let nan: Vec<u32> = head.iter().chain(tail).map(|v| v.is_nan() as u32).collect();
    let untouched = Check::exact("time embedding: nothing written outside", &[EMBED_TIME], &nan, &vec![1; nan.len()]);

    let name = "time embedding";
    let embedded = match tolerance {
        Tolerance::Relative(tolerance) => Check::close(name, &[EMBED_TIME], got, &want, tolerance),
        Tolerance::Features => {
            let features = x_dim..x_dim + shape.features();
            // Decided by `passed`, which a NaN fails, not by the reported error.
            let (mut worst, mut passed) = (0.0f32, got.len() == want.len());
            for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
                let (row, col) = (i / shape.width(), i % shape.width());
                let (error, within) = if features.contains(&col) {
                    let tol = feature_tolerance(t[row], w[(col - x_dim) % shape.frequencies]);
                    ((g - e).abs() / tol, (g - e).abs() <= tol)
                } else if g == e {
                    (0.0, true)
                } else {
                    (f32::INFINITY, false)
                };
                worst = worst.max(error);
                passed &= within;
            }
            Check { passed, ..Check::new(name, &[EMBED_TIME], worst, 1.0) }
        }
    };
    Ok(Check::all(name, &[EMBED_TIME], &[embedded, untouched]))
}
