//! The velocity network v(x_t, t [, cond]): Gaussian Fourier features of t concatenated with
//! x_t and the conditioning input, fed to an MLP that outputs one velocity per coordinate.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::time_embedding::{fourier_frequencies, EmbeddingOffsets, EmbeddingShape, TimeEmbedding};
use crate::nn::{Activation, Mlp, MlpPass, MlpSpec};

/// The shape of a velocity network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VelocitySpec {
    /// Coordinates of x (the action dimension for a policy).
    pub dim: usize,
    /// Width of the conditioning input (the state for a policy; 0 when unconditional).
    pub cond_dim: usize,
    /// Number of Fourier features of t (a sine and a cosine per frequency).
    pub time_features: usize,
    /// Standard deviation of the Fourier frequencies.
    pub time_scale: f32,
    pub hidden: Vec<usize>,
    pub activation: Activation,
}

impl VelocitySpec {
    pub fn embedding(&self, repeat: usize) -> Result<EmbeddingShape> {
        EmbeddingShape::new(self.dim, self.time_features, self.cond_dim, repeat)
    }

    pub fn mlp(&self) -> MlpSpec {
        MlpSpec::new(self.dim + self.time_features + self.cond_dim, &self.hidden, self.dim, self.activation)
    }
}

/// A velocity network: its MLP and its fixed Fourier frequencies, both on the GPU.
pub struct VelocityNet {
    pub spec: VelocitySpec,
    pub mlp: Mlp,
    pub frequencies: GpuBuffer,
}

impl VelocityNet {
    /// A fresh network; parameters and frequencies both follow from `seed`.
    pub fn new(gpu: &Gpu, spec: &VelocitySpec, seed: u64) -> Result<Self> {
        let frequencies = fourier_frequencies(seed ^ 0x7469_6d65, spec.time_features / 2, spec.time_scale)?;
        Self::from_parts(gpu, spec, &spec.mlp().init_params(seed), &frequencies)
    }

    /// A network from saved parameters and frequencies.
    pub fn from_parts(gpu: &Gpu, spec: &VelocitySpec, params: &[f32], frequencies: &[f32]) -> Result<Self> {
        spec.embedding(1)?;
        ensure!(spec.dim > 0, "a velocity network needs at least one coordinate");
        ensure!(
            frequencies.len() == spec.time_features / 2,
            "{} time frequencies given for {} features",
            frequencies.len(),
            spec.time_features
        );
        Ok(Self {
            spec: spec.clone(),
            mlp: Mlp::from_params(gpu, &spec.mlp(), params)?,
            frequencies: GpuBuffer::from_slice(gpu, "time frequencies", frequencies)?,
        })
    }
}

/// The network bound to a batch: x (rows×dim), t (one per row) and cond (one row per
/// `repeat` rows) are embedded into the MLP's input and run forward (and backward).
pub struct VelocityPass {
    pub shape: EmbeddingShape,
    embed: TimeEmbedding,
    /// The embedded input, rows×(dim + F + cond_dim).
    pub input: GpuBuffer,
    pub mlp: MlpPass,
}

impl VelocityPass {
    /// `cond` may be any buffer when the network is unconditional.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        net: &VelocityNet,
        x: &GpuBuffer,
        t: &GpuBuffer,
        cond: &GpuBuffer,
        capacity: usize,
        repeat: usize,
        train: bool,
    ) -> Result<Self> {
        let shape = net.spec.embedding(repeat)?;
        let input = GpuBuffer::zeros(gpu, "velocity input", capacity * shape.width())?;
        let embed = TimeEmbedding::new(gpu, x, t, &net.frequencies, cond, &input)?;
        let mlp = MlpPass::new(gpu, &net.mlp, &input, capacity, train)?;
        Ok(Self { shape, embed, input, mlp })
    }

    /// Records the embedding and the forward pass for `rows` rows; `offsets` say where this
    /// batch's x, t and conditioning rows start in their buffers (the output is at 0).
    pub fn record_forward(&self, rec: &mut Recorder, net: &VelocityNet, rows: usize, offsets: EmbeddingOffsets) {
        self.embed.record(rec, &self.shape, rows, EmbeddingOffsets { w: 0, out: 0, ..offsets });
        self.mlp.record_forward(rec, &net.mlp, rows);
    }

    /// The predicted velocities, rows×dim.
    pub fn output(&self) -> &GpuBuffer {
        self.mlp.output()
    }
}
