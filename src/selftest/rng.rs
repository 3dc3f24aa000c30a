//! The random fills (`shaders/rng.wgsl`) against their CPU twin.

use anyhow::Result;

use super::{bits, Check};
use crate::gpu::{Gpu, GpuBuffer, Kernel, Recorder};
use crate::kernels::rng::{Distribution, RngFill, FILL_BITS, FILL_INDICES, FILL_NORMAL, FILL_UNIFORM};
use crate::random::RngDraw;
use crate::reference::rng as cpu;

/// One fill of `distribution` from `draw` for each of `sizes`, all into one buffer.
#[derive(Debug, Clone)]
pub struct Case {
    pub distribution: Distribution,
    pub sizes: Vec<usize>,
    pub draw: RngDraw,
    /// For uniforms and normals, relative to 1 + |cpu|; 0 compares them bit for bit (exact
    /// for uniforms in (0, 1), which are exact functions of the bits). Words and indices are
    /// always compared exactly.
    pub tolerance: f32,
}

/// Fills each size at its own offset (the first at 3, then 2 words apart) of a buffer of
/// 0xDEADBEEF, in one submit; the words outside the ranges must stay, and indices must lie
/// below their bound.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { distribution, ref sizes, draw, tolerance } = *case;
    let offsets: Vec<usize> = sizes.iter().scan(3, |at, &n| Some(std::mem::replace(at, *at + n + 2))).collect();
    let len = offsets.last().zip(sizes.last()).map_or(0, |(o, n)| o + n + 1);
    let out = GpuBuffer::from_slice(gpu, "random", &vec![0xDEAD_BEEFu32; len])?;
    let fill = RngFill::new(gpu, &out, distribution)?;
    let mut rec = Recorder::new(gpu);
    for (&offset, &n) in offsets.iter().zip(sizes) {
        fill.record_draw(&mut rec, draw, offset, n);
    }
    rec.submit_and_wait()?;
    let words: Vec<u32> = out.read(gpu)?;

    let kernel = kernel(distribution);
    let mut outside = words.clone();
    let mut want = Vec::new();
    for (&offset, &n) in offsets.iter().zip(sizes) {
        outside[offset..offset + n].fill(0xDEAD_BEEF);
        want.extend(twin(distribution, draw, n));
    }
    let got: Vec<u32> = offsets.iter().zip(sizes).flat_map(|(&o, &n)| words[o..o + n].to_vec()).collect();
    let untouched = Check::exact("random: nothing written outside", &[kernel], &outside, &vec![0xDEAD_BEEF; len]);
    let name = name(distribution);
    let mut parts = vec![untouched];
    match distribution {
        Distribution::Uniform { .. } | Distribution::Normal { .. } if tolerance > 0.0 => {
            let floats = |w: &[u32]| w.iter().map(|&w| f32::from_bits(w)).collect::<Vec<_>>();
            parts.push(Check::close(&name, &[kernel], &floats(&got), &floats(&want), tolerance));
        }
        Distribution::Index { n } => {
            parts.push(Check::exact(&name, &[kernel], &got, &want));
            let below: Vec<u32> = got.iter().map(|&i| (i < n) as u32).collect();
            parts.push(Check::exact(&name, &[kernel], &below, &vec![1; got.len()]));
        }
        _ => parts.push(Check::exact(&name, &[kernel], &got, &want)),
    }
    Ok(Check::all(&name, &[kernel], &parts))
}

/// What qipo info calls a fill, e.g. "random normal (0.5, 2²)".
fn name(distribution: Distribution) -> String {
    match distribution {
        Distribution::Bits => "random bits".to_string(),
        Distribution::Uniform { low, high } => format!("random uniform ({low}, {high})"),
        Distribution::Normal { mean, std } => format!("random normal ({mean}, {std}²)"),
        Distribution::Index { .. } => "random indices".to_string(),
    }
}

fn kernel(distribution: Distribution) -> Kernel {
    match distribution {
        Distribution::Bits => FILL_BITS,
        Distribution::Uniform { .. } => FILL_UNIFORM,
        Distribution::Normal { .. } => FILL_NORMAL,
        Distribution::Index { .. } => FILL_INDICES,
    }
}

/// The CPU twin's `count` values for `draw`, as words.
fn twin(distribution: Distribution, draw: RngDraw, count: usize) -> Vec<u32> {
    match distribution {
        Distribution::Bits => cpu::fill_bits(draw, count),
        Distribution::Uniform { low, high } => bits(&cpu::fill_uniform(draw, count, high - low, low)),
        Distribution::Normal { mean, std } => bits(&cpu::fill_normal(draw, count, std, mean)),
        Distribution::Index { n } => cpu::fill_indices(draw, count, n),
    }
}
