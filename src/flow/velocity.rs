//! The velocity network v(x_t, t [, cond]): Gaussian Fourier features of t concatenated with
//! x_t and the conditioning input, fed to a network that outputs one velocity per coordinate:
//! a plain MLP, or QGPO's residual network ([`crate::nn::resnet`]).
//!
//! A `VelocityNet` may hold copies of one network, one per seed of a multi-seed run: copy c
//! has its own parameters and frequencies, and every pass runs all copies in the same
//! dispatches, copy c's rows after copy c - 1's.

use anyhow::{ensure, Result};

use super::spec::VelocitySpec;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::time_embedding::{
    fourier_frequencies, EmbeddingCopies, EmbeddingOffsets, EmbeddingShape, TimeEmbedding,
};
use crate::nn::{CopyInput, Mlp, MlpPass, ResNet, ResNetPass};

// The kernels' view of the spec: how they lay out its embedded rows.
impl VelocitySpec {
    pub fn embedding(&self, repeat: usize) -> Result<EmbeddingShape> {
        EmbeddingShape::new(self.dim, self.time_features, self.cond_dim, repeat)
    }
}

/// The network behind a [`VelocityNet`], on the GPU.
pub enum Network {
    Mlp(Mlp),
    ResNet(Box<ResNet>),
}

impl Network {
    /// Every copy's parameters, back to back: what Adam updates and checkpoints save.
    pub fn params(&self) -> &GpuBuffer {
        match self {
            Network::Mlp(n) => &n.params,
            Network::ResNet(n) => &n.params,
        }
    }

    pub fn grads(&self) -> &GpuBuffer {
        match self {
            Network::Mlp(n) => &n.grads,
            Network::ResNet(n) => &n.grads,
        }
    }

    pub fn copies(&self) -> usize {
        match self {
            Network::Mlp(n) => n.copies,
            Network::ResNet(n) => n.copies,
        }
    }
}

/// A network bound to its input rows.
pub enum NetworkPass {
    Mlp(MlpPass),
    ResNet(Box<ResNetPass>),
}

impl NetworkPass {
    fn record_forward(&self, rec: &mut Recorder, net: &Network, rows: usize) {
        match (self, net) {
            (NetworkPass::Mlp(p), Network::Mlp(n)) => p.record_forward(rec, n, rows),
            (NetworkPass::ResNet(p), Network::ResNet(n)) => p.record_forward(rec, n, rows),
            _ => panic!("a pass recorded with another kind of network"),
        }
    }

    fn record_backward(&self, rec: &mut Recorder, net: &Network, rows: usize, accumulate: bool) {
        match (self, net) {
            (NetworkPass::Mlp(p), Network::Mlp(n)) => p.record_backward(rec, n, rows, accumulate),
            (NetworkPass::ResNet(p), Network::ResNet(n)) => p.record_backward(rec, n, rows, accumulate),
            _ => panic!("a pass recorded with another kind of network"),
        }
    }

    fn output(&self) -> &GpuBuffer {
        match self {
            NetworkPass::Mlp(p) => p.output(),
            NetworkPass::ResNet(p) => p.output(),
        }
    }

    fn output_grad(&self) -> Option<&GpuBuffer> {
        match self {
            NetworkPass::Mlp(p) => p.output_grad(),
            NetworkPass::ResNet(p) => p.output_grad(),
        }
    }
}

/// A velocity network (or copies of one): its network and its fixed Fourier frequencies, both
/// on the GPU, copy c's frequencies `time_features / 2` values after copy c - 1's.
pub struct VelocityNet {
    pub spec: VelocitySpec,
    pub net: Network,
    pub frequencies: GpuBuffer,
    /// Consecutive copies that belong to one seed (a grid of settings per seed, see
    /// [`Self::repeat_copies`]): training and sampling draw each seed's random numbers for
    /// all of them. 1: a copy per seed.
    pub copies_per_seed: usize,
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
                    spec.init_params(s),
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
        let net = match spec.resnet() {
            None => Network::Mlp(Mlp::copies_from_params(gpu, &spec.mlp(), &params)?),
            Some(resnet) => Network::ResNet(Box::new(ResNet::copies_from_params(gpu, &resnet, &params)?)),
        };
        Ok(Self {
            spec: spec.clone(),
            net,
            frequencies: GpuBuffer::from_slice(gpu, "time frequencies", &frequencies.concat())?,
            copies_per_seed: 1,
        })
    }

    /// Copies of the network (seeds).
    pub fn copies(&self) -> usize {
        self.net.copies()
    }

    /// Every copy's parameters, back to back.
    pub fn params(&self) -> &GpuBuffer {
        self.net.params()
    }

    /// The gradients of [`Self::params`], as the last backward pass left them.
    pub fn grads(&self) -> &GpuBuffer {
        self.net.grads()
    }

    /// Copy `copy` alone, as a network of its own (to evaluate or save one seed).
    pub fn copy(&self, gpu: &Gpu, copy: usize) -> Result<Self> {
        assert!(copy < self.copies(), "copy {copy} of a network with {}", self.copies());
        let n = self.spec.param_count();
        let f = self.spec.time_features / 2;
        let params = self.params().read_range::<f32>(gpu, copy * n, n)?;
        let frequencies = self.frequencies.read_range::<f32>(gpu, copy * f, f)?;
        Self::from_parts(gpu, &self.spec, &params, &frequencies)
    }

    /// A network with the same parameters and frequencies as this one.
    pub fn duplicate(&self, gpu: &Gpu) -> Result<Self> {
        let n = self.spec.param_count();
        let f = self.spec.time_features / 2;
        let params: Vec<f32> = self.params().read(gpu)?;
        let frequencies: Vec<f32> = self.frequencies.read(gpu)?;
        let params: Vec<Vec<f32>> = params.chunks(n).map(<[f32]>::to_vec).collect();
        let frequencies: Vec<Vec<f32>> = frequencies.chunks(f.max(1)).take(params.len()).map(<[f32]>::to_vec).collect();
        let net = Self::copies_from_parts(gpu, &self.spec, &params, &frequencies)?;
        Ok(Self { copies_per_seed: self.copies_per_seed, ..net })
    }

    /// A network of `times` consecutive copies of each of this one's: copy c·times + b is
    /// copy c, and the `times` copies of one seed draw that seed's random numbers (for a
    /// grid of settings trained per seed from the same start).
    pub fn repeat_copies(&self, gpu: &Gpu, times: usize) -> Result<Self> {
        ensure!(times > 0, "a network repeated 0 times");
        let n = self.spec.param_count();
        let f = self.spec.time_features / 2;
        let params: Vec<f32> = self.params().read(gpu)?;
        let frequencies: Vec<f32> = self.frequencies.read(gpu)?;
        let copy = |c: usize| (params[c * n..(c + 1) * n].to_vec(), frequencies[c * f..(c + 1) * f].to_vec());
        let (params, frequencies): (Vec<_>, Vec<_>) =
            (0..self.copies()).flat_map(|c| std::iter::repeat_n(copy(c), times)).unzip();
        let net = Self::copies_from_parts(gpu, &self.spec, &params, &frequencies)?;
        Ok(Self { copies_per_seed: self.copies_per_seed * times, ..net })
    }
}

/// What a velocity pass reads: x (rows×dim), t (one per row) and the conditioning states
/// (one row per `repeat` rows; any buffer when the network is unconditional).
#[derive(Clone, Copy)]
pub struct VelocityInputs<'b> {
    pub x: &'b GpuBuffer,
    pub t: &'b GpuBuffer,
    pub cond: &'b GpuBuffer,
    pub repeat: usize,
}

/// What a velocity pass is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Sampling: forward only, every copy conditioned on the same states.
    Sampling,
    /// Training: forward and backward, each copy conditioned on its own minibatch's states.
    Training,
}

/// The network bound to a batch: x, t and the conditioning states are embedded into the
/// network's input and run forward (and, to train, backward).
///
/// For copies, a call over `rows` rows per copy reads copy c's x and t rows `c × rows` rows
/// in, and its conditioning rows either shared by all copies (sampling) or its own block of
/// `rows / repeat` rows (training).
pub struct VelocityPass {
    pub shape: EmbeddingShape,
    per_copy_cond: bool,
    embed: TimeEmbedding,
    /// The embedded input, rows×(dim + F + cond_dim).
    pub input: GpuBuffer,
    pass: NetworkPass,
}

impl VelocityPass {
    /// `capacity` counts rows per copy.
    pub fn new(
        gpu: &Gpu,
        net: &VelocityNet,
        inputs: VelocityInputs,
        capacity: usize,
        purpose: Purpose,
    ) -> Result<Self> {
        let VelocityInputs { x, t, cond, repeat } = inputs;
        // Training conditions each copy on its own minibatch; sampling, all on the same states.
        let train = purpose == Purpose::Training;
        let per_copy_cond = train;
        let shape = net.spec.embedding(repeat)?;
        let input = GpuBuffer::zeros(gpu, "velocity input", net.copies() * capacity * shape.width())?;
        let embed = TimeEmbedding::new(gpu, x, t, &net.frequencies, cond, &input)?;
        let pass = match &net.net {
            Network::Mlp(mlp) => {
                NetworkPass::Mlp(MlpPass::with_input(gpu, mlp, &input, capacity, train, CopyInput::PerCopy)?)
            }
            Network::ResNet(resnet) => {
                NetworkPass::ResNet(Box::new(ResNetPass::new(gpu, resnet, &input, capacity, train)?))
            }
        };
        Ok(Self { shape, per_copy_cond, embed, input, pass })
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
        self.pass.record_forward(rec, &net.net, rows);
    }

    /// Records the backward pass through the network (not the embedding, which has no
    /// parameters) after a loss has written [`Self::output_grad`]; the parameter gradients
    /// are written, or with `accumulate` added.
    pub fn record_backward(&self, rec: &mut Recorder, net: &VelocityNet, rows: usize, accumulate: bool) {
        self.pass.record_backward(rec, &net.net, rows, accumulate);
    }

    /// The predicted velocities, rows×dim.
    pub fn output(&self) -> &GpuBuffer {
        self.pass.output()
    }

    /// Where a loss writes its gradient with respect to [`Self::output`] (training passes).
    pub fn output_grad(&self) -> Option<&GpuBuffer> {
        self.pass.output_grad()
    }
}
