//! A multilayer perceptron on the GPU.
//!
//! All parameters live in one flat buffer (layer by layer: W as out×in, then b), and so do
//! their gradients, so that one Adam dispatch updates the whole network and one file saves
//! it. A network is described by an [`MlpSpec`]; running it on a batch needs an [`MlpPass`]:
//! the activations workspace and the kernels bound to it, built once and recorded each step.
//!
//! An `Mlp` may hold several copies of one shape back to back (the twin critic's two heads):
//! each layer of every copy then runs in the same dispatch, copy c reading its parameters
//! `c × param_count` further on.

use anyhow::{ensure, Result};

use super::mlp_spec::MlpSpec;
use super::Activation;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::critic::TwinHeads;
use crate::kernels::linear::{BackwardOffsets, Copies, ForwardOffsets, InputGradient, LinearBackward, LinearForward};
use crate::ops::LayerShape;

/// An MLP's parameters and gradients on the GPU: `copies` networks of one shape, back to back.
pub struct Mlp {
    pub spec: MlpSpec,
    pub layers: Vec<LayerShape>,
    pub copies: usize,
    pub params: GpuBuffer,
    pub grads: GpuBuffer,
}

impl Mlp {
    /// A network initialised like PyTorch's from `seed`.
    pub fn new(gpu: &Gpu, spec: &MlpSpec, seed: u64) -> Result<Self> {
        Self::from_params(gpu, spec, &spec.init_params(seed))
    }

    /// A network with the given parameters (e.g. from a checkpoint).
    pub fn from_params(gpu: &Gpu, spec: &MlpSpec, params: &[f32]) -> Result<Self> {
        Self::copies_from_params(gpu, spec, &[params])
    }

    /// Copies of one shape, copy c with `params[c]`, stored back to back.
    pub fn copies_from_params(gpu: &Gpu, spec: &MlpSpec, params: &[&[f32]]) -> Result<Self> {
        ensure!(spec.input > 0 && spec.output > 0, "an MLP needs non-empty input and output");
        ensure!(spec.hidden.iter().all(|&h| h > 0), "hidden layers cannot be empty");
        ensure!(!params.is_empty(), "an MLP needs at least one copy");
        for copy in params {
            ensure!(
                copy.len() == spec.param_count(),
                "{} parameters given for a network of {}",
                copy.len(),
                spec.param_count()
            );
        }
        let flat: Vec<f32> = params.concat();
        Ok(Self {
            spec: spec.clone(),
            layers: spec.layers(),
            copies: params.len(),
            params: GpuBuffer::from_slice(gpu, "mlp params", &flat)?,
            grads: GpuBuffer::zeros(gpu, "mlp grads", flat.len())?,
        })
    }

    /// Where copy `copy`'s parameters (and gradients) start.
    pub fn copy_offset(&self, copy: usize) -> usize {
        assert!(copy < self.copies, "copy {copy} of a network with {}", self.copies);
        copy * self.spec.param_count()
    }
}

/// How the copies of a network find their input rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyInput {
    /// Every copy reads the same rows (the twin critic's heads).
    Shared,
    /// Copy c reads its own rows, `c × capacity` rows into the input (one minibatch per seed).
    PerCopy,
    /// Copy c reads block c / k of `capacity` rows: k consecutive copies share one block (the
    /// twin heads of each seed, k = 2).
    PerGroup(usize),
}

impl CopyInput {
    /// Copies reading one input block (0: all of them).
    fn group(self) -> usize {
        match self {
            Self::Shared => 0,
            Self::PerCopy => 1,
            Self::PerGroup(k) => k.max(1),
        }
    }
}

/// The workspace and bound kernels for running one network on up to `capacity` rows read
/// from a fixed input buffer (rows×input, starting at element 0). Copies lie back to back:
/// on a call over `rows` rows, copy c's activations start `c × rows` rows in, and its input
/// is shared or its own block of `rows` rows ([`CopyInput`]).
pub struct MlpPass {
    pub capacity: usize,
    copies: usize,
    input_layout: CopyInput,
    output_width: usize,
    forward: Vec<LinearForward>,
    backward: Vec<LinearBackward>,
    /// Pre-activations and outputs per layer, capacity×width each.
    z: Vec<GpuBuffer>,
    y: Vec<GpuBuffer>,
    /// Gradients of each layer's output; the last one is where a loss writes dL/d(output).
    dy: Vec<GpuBuffer>,
}

impl MlpPass {
    /// Binds `mlp` to `input`, which all its copies share. With `train`, the pass keeps what
    /// the backward pass needs.
    pub fn new(gpu: &Gpu, mlp: &Mlp, input: &GpuBuffer, capacity: usize, train: bool) -> Result<Self> {
        Self::with_input(gpu, mlp, input, capacity, train, CopyInput::Shared)
    }

    /// [`Self::new`] with the copies' input laid out as `layout` says.
    pub fn with_input(
        gpu: &Gpu,
        mlp: &Mlp,
        input: &GpuBuffer,
        capacity: usize,
        train: bool,
        layout: CopyInput,
    ) -> Result<Self> {
        let inputs = match layout.group() {
            0 => 1,
            k => mlp.copies.div_ceil(k),
        };
        let needed = inputs * capacity * mlp.spec.input;
        ensure!(
            input.len >= needed,
            "input buffer '{}' holds {} values, {} rows of {} need {needed}",
            input.label,
            input.len,
            inputs * capacity,
            mlp.spec.input,
        );
        let (mut z, mut y, mut dy) = (Vec::new(), Vec::new(), Vec::new());
        for (i, layer) in mlp.layers.iter().enumerate() {
            let n = mlp.copies * capacity * layer.out_dim;
            y.push(GpuBuffer::zeros(gpu, &format!("layer {i} output"), n)?);
            z.push(GpuBuffer::zeros(gpu, &format!("layer {i} pre-activation"), if train { n } else { 1 })?);
            if train {
                dy.push(GpuBuffer::zeros(gpu, &format!("layer {i} output gradient"), n)?);
            }
        }
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        for i in 0..mlp.layers.len() {
            let x = if i == 0 { input } else { &y[i - 1] };
            forward.push(LinearForward::new(gpu, x, &mlp.params, &y[i], &z[i])?);
            if train {
                // dX of layer i is dY of layer i - 1: its epilogue applies that layer's
                // activation gradient, so layer i - 1 starts from its dZ.
                let dx = (i > 0)
                    .then(|| InputGradient { dx: &dy[i - 1], below: Some((&z[i - 1], mlp.spec.activation_of(i - 1))) });
                backward.push(LinearBackward::new(gpu, x, &z[i], &mlp.params, &dy[i], &mlp.grads, dx)?);
            }
        }
        let copies = mlp.copies;
        Ok(Self { capacity, copies, input_layout: layout, output_width: mlp.spec.output, forward, backward, z, y, dy })
    }

    /// How layer `i`'s copies lie on a call over `rows` rows: parameters one network apart,
    /// every activation `rows` rows apart, and the first layer's input as [`CopyInput`] says.
    fn copies_of(&self, mlp: &Mlp, i: usize, rows: usize) -> Copies {
        let layer = &mlp.layers[i];
        let group = if i == 0 { self.input_layout.group() } else { 1 };
        Copies {
            count: self.copies,
            params_stride: mlp.spec.param_count(),
            input_stride: if group == 0 { 0 } else { rows * layer.in_dim },
            output_stride: rows * layer.out_dim,
            input_group: group.max(1),
        }
    }

    /// Where copy `copy`'s rows start in [`Self::output`] and [`Self::output_grad`] after a
    /// call over `rows` rows.
    pub fn output_offset(&self, copy: usize, rows: usize) -> usize {
        assert!(copy < self.copies, "copy {copy} of a pass with {}", self.copies);
        copy * rows * self.output_width
    }

    /// Where the values of a critic's twin heads lie after a call over `rows` rows: a pass
    /// of a network of one output whose copies 2c and 2c + 1 are seed c's two heads.
    pub fn twin_heads(&self, rows: usize) -> TwinHeads {
        assert!(self.output_width == 1 && self.copies.is_multiple_of(2), "not a pass of twin heads");
        TwinHeads { rows }
    }

    /// The network's output, rows×output (for copies, one such block per copy).
    pub fn output(&self) -> &GpuBuffer {
        self.y.last().expect("an MLP has at least one layer")
    }

    /// Where a loss writes the gradient of the loss with respect to the output (rows×output).
    /// Only passes built with `train` have one.
    pub fn output_grad(&self) -> Option<&GpuBuffer> {
        self.dy.last()
    }

    fn check_rows(&self, rows: usize) {
        assert!(rows <= self.capacity, "{rows} rows in a pass built for {}", self.capacity);
    }

    /// Records the forward pass over the first `rows` rows of the input.
    pub fn record_forward(&self, rec: &mut Recorder, mlp: &Mlp, rows: usize) {
        self.check_rows(rows);
        let keep_z = !self.backward.is_empty();
        for (i, (op, layer)) in self.forward.iter().zip(&mlp.layers).enumerate() {
            let offsets = ForwardOffsets { x: 0, y: 0, z: keep_z.then_some(0) };
            op.record_copies(rec, layer, mlp.spec.activation_of(i), rows, offsets, self.copies_of(mlp, i, rows));
        }
    }

    /// Records the backward pass, after the forward pass and after a loss has written
    /// [`Self::output_grad`]. Writes (or, with `accumulate`, adds) the parameter gradients.
    pub fn record_backward(&self, rec: &mut Recorder, mlp: &Mlp, rows: usize, accumulate: bool) {
        self.check_rows(rows);
        assert!(!self.backward.is_empty(), "this pass was built without training buffers");
        let top = mlp.layers.len() - 1;
        for (i, (op, layer)) in self.backward.iter().zip(&mlp.layers).enumerate().rev() {
            // Below the top layer, dY already holds dZ: the layer above fused it in.
            let act = if i == top { mlp.spec.activation_of(i) } else { Activation::Identity };
            let copies = self.copies_of(mlp, i, rows);
            op.record_copies(rec, layer, act, rows, BackwardOffsets::default(), copies, accumulate);
        }
    }

    /// The pre-activation of layer `i` (for tests).
    pub fn pre_activation(&self, i: usize) -> &GpuBuffer {
        &self.z[i]
    }
}
