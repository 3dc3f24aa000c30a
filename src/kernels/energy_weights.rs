//! Energy weights, a softmax over groups of rows: `shaders/energy_weights.wgsl`.

use anyhow::Result;

use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};

/// Invocations per workgroup (`@workgroup_size` of the shader): one per group.
const WORKGROUP: u32 = 64;

const SOURCE: Source = ("energy_weights.wgsl", include_str!("../../shaders/energy_weights.wgsl"));

/// Bindings: values (energies or Q-values), weights (out).
pub const GROUP_SOFTMAX: Kernel =
    Kernel { sources: &[SOURCE], entry: "group_softmax", bindings: &[Access::Read, Access::ReadWrite] };

pub const KERNELS: [Kernel; 1] = [GROUP_SOFTMAX];

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EnergyWeightsParams {
    pub groups: u32,
    pub group_size: u32,
    pub value_off: u32,
    pub weight_off: u32,
    /// Multiplies each value before the softmax: -beta for energies, +beta for Q-values.
    pub coef: f32,
    /// The weights of a group sum to this.
    pub scale: f32,
}

/// `weights = scale · softmax(coef · values)` over consecutive groups of `group_size` rows.
pub struct EnergyWeights(Bound);

impl EnergyWeights {
    pub fn new(gpu: &Gpu, values: &GpuBuffer, weights: &GpuBuffer) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &GROUP_SOFTMAX, &[values, weights])?))
    }

    /// Records the weights of `groups` groups of `group_size` values each.
    pub fn record(&self, rec: &mut Recorder, groups: usize, group_size: usize, coef: f32, scale: f32) {
        let p = EnergyWeightsParams {
            groups: groups as u32,
            group_size: group_size as u32,
            coef,
            scale,
            ..Default::default()
        };
        self.record_with(rec, p);
    }

    /// Records the weights of `groups` groups of `group_size` values from element `at` of the
    /// values onto the same elements of the weights, with the energy's coefficient `coef`.
    pub fn record_at(&self, rec: &mut Recorder, at: usize, groups: usize, group_size: usize, coef: f32) {
        let p = EnergyWeightsParams {
            groups: groups as u32,
            group_size: group_size as u32,
            value_off: at as u32,
            weight_off: at as u32,
            coef,
            scale: 1.0,
        };
        self.record_with(rec, p);
    }

    /// Records with explicit offsets.
    pub fn record_with(&self, rec: &mut Recorder, params: EnergyWeightsParams) {
        let grid = grid_1d(rec.gpu(), params.groups as usize, WORKGROUP);
        self.0.record(rec, &params, grid);
    }
}
