//! The velocity network v(x_t, t [, cond]): Gaussian Fourier features of t concatenated with
//! x_t and the conditioning input, fed to an MLP that outputs one velocity per coordinate.
//!
//! A `VelocityNet` may hold copies of one network, one per seed of a multi-seed run: copy c
//! has its own parameters and frequencies, and every pass runs all copies in the same
//! dispatches, copy c's rows after copy c - 1's.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::time_embedding::{
    fourier_frequencies, EmbeddingCopies, EmbeddingOffsets, EmbeddingShape, TimeEmbedding,
};
use crate::nn::{Activation, CopyInput, Mlp, MlpPass, MlpSpec};

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

/// A velocity network (or copies of one): its MLP and its fixed Fourier frequencies, both on
/// the GPU, copy c's frequencies `time_features / 2` values after copy c - 1's.
pub struct VelocityNet {
    pub spec: VelocitySpec,
    pub mlp: Mlp,
    pub frequencies: GpuBuffer,
}

impl VelocityNet {
    /// A fresh network; parameters and frequencies both follow from `seed`.
    pub fn new(gpu: &Gpu, spec: &VelocitySpec, seed: u64) -> Result<Self> {
        Self::for_seeds(gpu, spec, seed, 1)
    }

    /// `copies` fresh networks, copy c exactly the network [`Self::new`] makes from seed + c.
    pub fn for_seeds(gpu: &Gpu, spec: &VelocitySpec, seed: u64, copies: usize) -> Result<Self> {
        let seeds = (0..copies as u64).map(|c| seed.wrapping_add(c));
        let (params, frequencies): (Vec<_>, Vec<_>) = seeds
            .map(|s| {
                Ok((
                    spec.mlp().init_params(s),
                    fourier_frequencies(s ^ 0x7469_6d65, spec.time_features / 2, spec.time_scale)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        Self::copies_from_parts(gpu, spec, &params, &frequencies)
    }

    /// A network from saved parameters and frequencies.
    pub fn from_parts(gpu: &Gpu, spec: &VelocitySpec, params: &[f32], frequencies: &[f32]) -> Result<Self> {
        Self::copies_from_parts(gpu, spec, &[params.to_vec()], &[frequencies.to_vec()])
    }

    /// Copies of one network from their saved parameters and frequencies.
    pub fn copies_from_parts(
        gpu: &Gpu,
        spec: &VelocitySpec,
        params: &[Vec<f32>],
        frequencies: &[Vec<f32>],
    ) -> Result<Self> {
        spec.embedding(1)?;
        ensure!(spec.dim > 0, "a velocity network needs at least one coordinate");
        ensure!(
            params.len() == frequencies.len(),
            "{} parameter sets for {} frequency sets",
            params.len(),
            frequencies.len()
        );
        for f in frequencies {
            ensure!(
                f.len() == spec.time_features / 2,
                "{} time frequencies given for {} features",
                f.len(),
                spec.time_features
            );
        }
        let params: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        Ok(Self {
            spec: spec.clone(),
            mlp: Mlp::copies_from_params(gpu, &spec.mlp(), &params)?,
            frequencies: GpuBuffer::from_slice(gpu, "time frequencies", &frequencies.concat())?,
        })
    }

    /// Copies of the network (seeds).
    pub fn copies(&self) -> usize {
        self.mlp.copies
    }

    /// Copy `copy` alone, as a network of its own (to evaluate or save one seed).
    pub fn copy(&self, gpu: &Gpu, copy: usize) -> Result<Self> {
        let n = self.spec.mlp().param_count();
        let f = self.spec.time_features / 2;
        let params = self.mlp.params.read_range::<f32>(gpu, self.mlp.copy_offset(copy), n)?;
        let frequencies = self.frequencies.read_range::<f32>(gpu, copy * f, f)?;
        Self::from_parts(gpu, &self.spec, &params, &frequencies)
    }

    /// A network with the same parameters and frequencies as this one.
    pub fn duplicate(&self, gpu: &Gpu) -> Result<Self> {
        let n = self.spec.mlp().param_count();
        let f = self.spec.time_features / 2;
        let params: Vec<f32> = self.mlp.params.read(gpu)?;
        let frequencies: Vec<f32> = self.frequencies.read(gpu)?;
        let params: Vec<Vec<f32>> = params.chunks(n).map(<[f32]>::to_vec).collect();
        let frequencies: Vec<Vec<f32>> = frequencies.chunks(f.max(1)).take(params.len()).map(<[f32]>::to_vec).collect();
        Self::copies_from_parts(gpu, &self.spec, &params, &frequencies)
    }
}

/// The network bound to a batch: x (rows×dim), t (one per row) and cond (one row per
/// `repeat` rows) are embedded into the MLP's input and run forward (and backward).
///
/// For copies, a call over `rows` rows per copy reads copy c's x and t rows `c × rows` rows
/// in, and its conditioning rows either shared by all copies or its own block of
/// `rows / repeat` rows (`per_copy_cond`).
pub struct VelocityPass {
    pub shape: EmbeddingShape,
    per_copy_cond: bool,
    embed: TimeEmbedding,
    /// The embedded input, rows×(dim + F + cond_dim).
    pub input: GpuBuffer,
    pub mlp: MlpPass,
}

impl VelocityPass {
    /// `cond` may be any buffer when the network is unconditional. `capacity` counts rows per
    /// copy.
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
        per_copy_cond: bool,
    ) -> Result<Self> {
        let shape = net.spec.embedding(repeat)?;
        let input = GpuBuffer::zeros(gpu, "velocity input", net.copies() * capacity * shape.width())?;
        let embed = TimeEmbedding::new(gpu, x, t, &net.frequencies, cond, &input)?;
        let mlp = MlpPass::with_input(gpu, &net.mlp, &input, capacity, train, CopyInput::PerCopy)?;
        Ok(Self { shape, per_copy_cond, embed, input, mlp })
    }

    /// Records the embedding and the forward pass for `rows` rows of every copy; `offsets` say
    /// where this batch's x, t and conditioning rows start in their buffers (the output is
    /// at 0).
    pub fn record_forward(&self, rec: &mut Recorder, net: &VelocityNet, rows: usize, offsets: EmbeddingOffsets) {
        let copies = EmbeddingCopies {
            rows: if net.copies() > 1 { rows } else { 0 },
            w_stride: self.shape.frequencies,
            cond_rows: if self.per_copy_cond { self.shape.cond_rows(rows) } else { 0 },
        };
        let offsets = EmbeddingOffsets { w: 0, out: 0, ..offsets };
        self.embed.record_copies(rec, &self.shape, net.copies() * rows, offsets, copies);
        self.mlp.record_forward(rec, &net.mlp, rows);
    }

    /// The predicted velocities, rows×dim.
    pub fn output(&self) -> &GpuBuffer {
        self.mlp.output()
    }
}
