//! Energy weights, a softmax within groups (`shaders/energy_weights.wgsl`), against their
//! CPU twin.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::energy_weights::{EnergyWeights, EnergyWeightsParams, GROUP_SOFTMAX};
use crate::reference;

/// `groups` groups of `size` values in [-4, 4), weighted by softmax(coef · value) · scale.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub groups: usize,
    pub size: usize,
    pub coef: f32,
    pub scale: f32,
    pub seed: u64,
    /// For the weights, relative to 1 + |cpu|.
    pub tolerance: f32,
    /// Also checks each group's weights sum to `scale`, to this absolute tolerance.
    pub sum_tolerance: Option<f32>,
}

/// Runs the case with the values 2 words into their buffer and the weights 1 word into theirs.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { groups, size, coef, scale, seed, tolerance, sum_tolerance } = *case;
    let values = values(seed, groups * size, 4.0);
    let want = reference::flow::energy_weights(&values, size, coef, scale);
    let v = GpuBuffer::from_slice(gpu, "values", &[vec![0.0; 2], values].concat())?;
    let w = GpuBuffer::zeros(gpu, "weights", 1 + groups * size)?;
    let op = EnergyWeights::new(gpu, &v, &w)?;
    let mut rec = Recorder::new(gpu);
    let params = EnergyWeightsParams {
        groups: groups as u32,
        group_size: size as u32,
        value_off: 2,
        weight_off: 1,
        coef,
        scale,
    };
    op.record_with(&mut rec, params);
    rec.submit_and_wait()?;
    let got = &w.read::<f32>(gpu)?[1..];
    let kernels = [GROUP_SOFTMAX];
    let weights = Check::close("energy weights", &kernels, got, &want, tolerance);
    let Some(sum_tolerance) = sum_tolerance else { return Ok(weights) };
    let sums: Vec<f32> = got.chunks(size).map(|group| group.iter().sum()).collect();
    let sums = Check::absolute("energy weights: group sums", &kernels, &sums, &vec![scale; groups], sum_tolerance);
    Ok(Check::all("energy weights", &kernels, &[weights, sums]))
}
