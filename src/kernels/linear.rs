//! The linear layer: `shaders/linear_forward.wgsl` and `shaders/linear_backward.wgsl`.
//!
//! Shapes follow PyTorch: X is rows×in, W is out×in, b is out, all row-major. Offsets are
//! in elements, so one flat buffer can hold every layer's parameters.

use anyhow::Result;

use super::snippets::{ACTIVATIONS, MATMUL};
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::nn::Activation;

const FORWARD_SRC: Source = ("linear_forward.wgsl", include_str!("../../shaders/linear_forward.wgsl"));
const BACKWARD_SRC: Source = ("linear_backward.wgsl", include_str!("../../shaders/linear_backward.wgsl"));

use Access::{Read, ReadWrite};

/// Y = act(X·Wᵀ + b). Bindings: X, parameters, Y, Z (pre-activation).
pub const FORWARD: Kernel = Kernel {
    sources: &[ACTIVATIONS, MATMUL, FORWARD_SRC],
    entry: "forward",
    bindings: &[Read, Read, ReadWrite, ReadWrite],
};
/// dX = dZ·W. Bindings: dZ, parameters, dX.
pub const BACKWARD_INPUT: Kernel = Kernel {
    sources: &[ACTIVATIONS, MATMUL, BACKWARD_SRC],
    entry: "backward_input",
    bindings: &[Read, Read, ReadWrite],
};
/// dW = dZᵀ·X. Bindings: dZ, X, gradients.
pub const BACKWARD_WEIGHT: Kernel = Kernel { entry: "backward_weight", ..BACKWARD_INPUT };
/// db = column sums of dZ. Bindings: dZ, (unused), gradients.
pub const BACKWARD_BIAS: Kernel = Kernel { entry: "backward_bias", ..BACKWARD_INPUT };
/// dZ = dY ⊙ act'(Z) in place. Bindings: Z, (unused), dY.
pub const ACTIVATION_BACKWARD: Kernel = Kernel { entry: "activation_backward", ..BACKWARD_INPUT };

pub const KERNELS: [Kernel; 5] = [FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT, BACKWARD_BIAS, ACTIVATION_BACKWARD];

const FLAG_BIAS: u32 = 1;
const FLAG_STORE_Z: u32 = 2;
const FLAG_ACCUMULATE: u32 = 4;

/// The immediates of every linear kernel (`struct Matmul` in shaders/common/matmul.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_off: u32,
    pub a_row_stride: u32,
    pub a_col_stride: u32,
    pub b_off: u32,
    pub b_row_stride: u32,
    pub b_col_stride: u32,
    pub c_off: u32,
    pub bias_off: u32,
    pub z_off: u32,
    pub act: u32,
    pub flags: u32,
}

/// Where one layer's weight (out×in) and bias (out) live in a flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub in_dim: usize,
    pub out_dim: usize,
    pub weight_off: usize,
    pub bias_off: usize,
}

/// Workgroups covering an m×n output in 64×64 tiles (16×16 invocations of 4×4 outputs).
fn tile_grid(m: usize, n: usize) -> [u32; 3] {
    [n.div_ceil(64).max(1) as u32, m.div_ceil(64).max(1) as u32, 1]
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// The forward kernel bound to its buffers.
pub struct LinearForward(Bound);

impl LinearForward {
    /// `z` receives the pre-activation when `record` is asked to store it; pass any buffer
    /// (distinct from `y`) otherwise.
    pub fn new(gpu: &Gpu, x: &GpuBuffer, params: &GpuBuffer, y: &GpuBuffer, z: &GpuBuffer) -> Result<Self> {
        Ok(Self(Bound::new(gpu, &FORWARD, &[x, params, y, z])?))
    }

    /// Records Y[y_off..] = act(X[x_off..]·Wᵀ + b) for `rows` rows.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        x_off: usize,
        y_off: usize,
        z_off: Option<usize>,
    ) {
        if rows == 0 {
            return;
        }
        let params = MatmulParams {
            m: u(rows),
            n: u(layer.out_dim),
            k: u(layer.in_dim),
            a_off: u(x_off),
            a_row_stride: u(layer.in_dim),
            a_col_stride: 1,
            // B(k, n) = W[n, k]
            b_off: u(layer.weight_off),
            b_row_stride: 1,
            b_col_stride: u(layer.in_dim),
            c_off: u(y_off),
            bias_off: u(layer.bias_off),
            z_off: u(z_off.unwrap_or(0)),
            act: act.code(),
            flags: FLAG_BIAS | if z_off.is_some() { FLAG_STORE_Z } else { 0 },
        };
        self.0.record(rec, &params, tile_grid(rows, layer.out_dim));
    }
}

/// The backward kernels of one layer bound to its buffers.
pub struct LinearBackward {
    activation: Bound,
    weight: Bound,
    bias: Bound,
    input: Option<Bound>,
}

impl LinearBackward {
    /// `dy` holds the gradient of the layer's output and is turned into dZ in place; `x` is
    /// the layer's input, `z` its pre-activation. `dx`, when given, receives the gradient of
    /// the input (the first layer of a network needs none).
    pub fn new(
        gpu: &Gpu,
        x: &GpuBuffer,
        z: &GpuBuffer,
        params: &GpuBuffer,
        dy: &GpuBuffer,
        grads: &GpuBuffer,
        dx: Option<&GpuBuffer>,
    ) -> Result<Self> {
        Ok(Self {
            activation: Bound::new(gpu, &ACTIVATION_BACKWARD, &[z, z, dy])?,
            weight: Bound::new(gpu, &BACKWARD_WEIGHT, &[dy, x, grads])?,
            bias: Bound::new(gpu, &BACKWARD_BIAS, &[dy, dy, grads])?,
            input: dx.map(|dx| Bound::new(gpu, &BACKWARD_INPUT, &[dy, params, dx])).transpose()?,
        })
    }

    /// Records the backward pass for `rows` rows. With `accumulate`, the parameter gradients
    /// are added to what the gradient buffer holds.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        offsets: BackwardOffsets,
        accumulate: bool,
    ) {
        if rows == 0 {
            return;
        }
        let (m, n, k) = (u(rows), u(layer.out_dim), u(layer.in_dim));
        let acc = if accumulate { FLAG_ACCUMULATE } else { 0 };
        let base = MatmulParams { act: act.code(), ..Default::default() };
        if act != Activation::Identity {
            let p = MatmulParams { m, n, a_off: u(offsets.z), c_off: u(offsets.dy), ..base };
            self.activation.record_1d(rec, &p, rows * layer.out_dim);
        }
        // dW (out×in) = dZᵀ·X: A(i, r) = dZ[r, i], B(r, j) = X[r, j].
        let p = MatmulParams {
            m: n,
            n: k,
            k: m,
            a_off: u(offsets.dy),
            a_row_stride: 1,
            a_col_stride: n,
            b_off: u(offsets.x),
            b_row_stride: k,
            b_col_stride: 1,
            c_off: u(layer.weight_off),
            flags: acc,
            ..base
        };
        self.weight.record(rec, &p, tile_grid(layer.out_dim, layer.in_dim));
        let p = MatmulParams { m, n, a_off: u(offsets.dy), bias_off: u(layer.bias_off), flags: acc, ..base };
        self.bias.record_1d(rec, &p, layer.out_dim);
        if let Some(input) = &self.input {
            // dX (rows×in) = dZ·W: A = dZ (rows×out), B(o, j) = W[o, j].
            let p = MatmulParams {
                m,
                n: k,
                k: n,
                a_off: u(offsets.dy),
                a_row_stride: n,
                a_col_stride: 1,
                b_off: u(layer.weight_off),
                b_row_stride: k,
                b_col_stride: 1,
                c_off: u(offsets.dx),
                ..base
            };
            input.record(rec, &p, tile_grid(rows, layer.in_dim));
        }
    }
}

/// Element offsets of the backward pass's operands in their buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackwardOffsets {
    pub x: usize,
    pub z: usize,
    pub dy: usize,
    pub dx: usize,
}
