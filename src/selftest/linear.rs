//! The linear layer (`shaders/linear_forward.wgsl`, `shaders/linear_backward.wgsl`) against
//! its CPU twin, on either matmul core, single and in copies.

use anyhow::Result;

use super::{values, Check};
use crate::gpu::{Gpu, GpuBuffer, Kernel, Recorder};
use crate::kernels::linear::{
    weight_splits, BackwardOffsets, Copies, Core, ForwardOffsets, InputGradient, LinearBackward, LinearForward,
    ACTIVATION_BACKWARD, SUM_SPLITS,
};
use crate::nn::Activation;
use crate::ops::LayerShape;
use crate::reference;
use crate::reference::linear::Dense;

/// Where the operands sit in their buffers, and the gap after each copy.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub weight: usize,
    pub x: usize,
    pub y: usize,
    pub z: usize,
    pub dy: usize,
    pub dx: usize,
    /// Copies start at multiples of this.
    pub align: usize,
}

/// Odd offsets, where the tiled core must load scalars.
pub const ODD: Layout = Layout { weight: 3, x: 5, y: 2, z: 1, dy: 6, dx: 1, align: 1 };
/// Offsets and strides of whole vec4s, where it may load vec4s.
pub const ALIGNED: Layout = Layout { weight: 4, x: 8, y: 0, z: 4, dy: 12, dx: 4, align: 4 };

impl Layout {
    /// The distance between copies of `len` values: at least one value apart.
    fn stride(&self, len: usize) -> usize {
        (len + 1).next_multiple_of(self.align)
    }
}

/// One layer (or `copies` of it): X in [-2, 2), parameters in [-0.5, 0.5).
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub rows: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub act: Activation,
    pub copies: usize,
    /// Consecutive copies reading one input block (`Copies::input_group`).
    pub input_group: usize,
    pub layout: Layout,
    pub seed: u64,
    /// For Y, Z, dX and dZ, relative to 1 + |cpu|.
    pub tolerance: f32,
    /// For dW and db, relative to 1 + |cpu|.
    pub grad_tolerance: f32,
}

impl Case {
    fn layer(&self) -> LayerShape {
        let weight_off = self.layout.weight;
        LayerShape { in_dim: self.in_dim, out_dim: self.out_dim, weight_off, bias_off: weight_off + self.weights() }
    }
    fn weights(&self) -> usize {
        self.out_dim * self.in_dim
    }
    fn inputs(&self) -> usize {
        self.rows * self.in_dim
    }
    fn outputs(&self) -> usize {
        self.rows * self.out_dim
    }
    fn strides(&self) -> Copies {
        Copies {
            count: self.copies,
            params_stride: self.layout.stride(self.weights() + self.out_dim),
            input_stride: self.layout.stride(self.inputs()),
            output_stride: self.layout.stride(self.outputs()),
            input_group: self.input_group,
        }
    }
    /// Input blocks the copies read: one per group of copies, the last group maybe partial.
    fn input_blocks(&self) -> usize {
        self.copies.div_ceil(self.input_group)
    }
    /// Each copy's input (copy s reads block s / input_group of `x`, or block 0 of a shared
    /// input), stacked: the per-copy X of the CPU twin.
    fn copy_inputs(&self, x: &[f32], shared_input: bool) -> Vec<f32> {
        let block = |s: usize| if shared_input { 0 } else { s / self.input_group };
        (0..self.copies).flat_map(|s| x[block(s) * self.inputs()..][..self.inputs()].to_vec()).collect()
    }
    /// Room for `per_copy` values of each copy from `off` on, `stride` apart, all `fill`.
    fn buffer(&self, off: usize, stride: usize, per_copy: usize, fill: f32) -> Vec<f32> {
        vec![fill; (off + stride * (self.copies - 1) + per_copy).max(1)]
    }
    /// Parameters with each copy's W and b at its place, random values between copies.
    fn params(&self, strides: &Copies) -> Vec<f32> {
        let per_copy = self.weights() + self.out_dim;
        let len = self.layer().weight_off + strides.params_stride * (self.copies - 1) + per_copy;
        values(self.seed + 1000, len, 0.5)
    }
    /// What qipo info calls the check of `what`.
    fn name(&self, what: &str, core: Core) -> String {
        let copies = if self.copies == 1 { "1 copy".to_string() } else { format!("{} copies", self.copies) };
        format!("linear {what}, {copies}, {} core", core.name())
    }
}

/// Writes each copy's `chunk` of `data` into `buf` at `off + s·stride`.
fn place(buf: &mut [f32], off: usize, stride: usize, data: &[f32], chunk: usize) {
    for (s, part) in data.chunks(chunk.max(1)).enumerate() {
        buf[off + s * stride..][..part.len()].copy_from_slice(part);
    }
}

/// Each copy's `chunk` values at `off + s·stride`, stacked.
fn take(buf: &[f32], off: usize, stride: usize, copies: usize, chunk: usize) -> Vec<f32> {
    (0..copies).flat_map(|s| buf[off + s * stride..][..chunk].to_vec()).collect()
}

/// The forward and backward kernels of a core.
pub fn products(core: Core) -> [Kernel; 2] {
    [LinearForward::kernel(core), LinearBackward::kernel(core)]
}

/// Whether the layer ran on the core asked for, as an exact part of a check.
fn ran_on(name: &str, kernels: &[Kernel], asked: Core, got: Core) -> Check {
    Check::exact(name, kernels, &[(got == asked) as u32], &[1])
}

/// Y and Z of the case on `core`, whole buffers (the values between copies must be left
/// alone); `shared_input` gives every copy the same X (input stride 0).
pub fn check_forward(gpu: &Gpu, core: Core, case: &Case, shared_input: bool) -> Result<Check> {
    let (rows, in_dim, out_dim, l) = (case.rows, case.in_dim, case.out_dim, case.layout);
    let layer = case.layer();
    let mut copies = case.strides();
    if shared_input {
        copies.input_stride = 0;
    }
    let x = values(case.seed, case.inputs() * if shared_input { 1 } else { case.input_blocks() }, 2.0);
    let params = case.params(&copies);
    let w = take(&params, layer.weight_off, copies.params_stride, case.copies, case.weights());
    let b = take(&params, layer.bias_off, copies.params_stride, case.copies, out_dim);
    let x_copies = case.copy_inputs(&x, shared_input);
    let (z_ref, y_ref) = reference::linear::forward_copies(
        &x_copies,
        &w,
        &b,
        case.copies,
        false,
        Dense { rows, in_dim, out_dim, act: case.act },
    );

    let mut x_host = case.buffer(l.x, copies.input_stride, case.inputs(), 9.0);
    place(&mut x_host, l.x, copies.input_stride, &x, case.inputs());
    let y_init = case.buffer(l.y, copies.output_stride, case.outputs(), 0.0);
    let z_init = case.buffer(l.z, copies.output_stride, case.outputs(), -1.0);
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x_host)?;
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params)?;
    let y_buf = GpuBuffer::from_slice(gpu, "y", &y_init)?;
    let z_buf = GpuBuffer::from_slice(gpu, "z", &z_init)?;
    let op = LinearForward::with_core(gpu, core, &x_buf, &p_buf, &y_buf, &z_buf)?;
    let mut rec = Recorder::new(gpu);
    let offsets = ForwardOffsets { x: l.x, y: l.y, z: Some(l.z) };
    op.record_copies(&mut rec, &layer, case.act, rows, offsets, copies);
    rec.submit_and_wait()?;

    let (mut y_want, mut z_want) = (y_init, z_init);
    place(&mut y_want, l.y, copies.output_stride, &y_ref, case.outputs());
    place(&mut z_want, l.z, copies.output_stride, &z_ref, case.outputs());
    let got = [y_buf.read::<f32>(gpu)?, z_buf.read(gpu)?].concat();
    let (name, kernels) = (case.name("forward", core), [products(core)[0]]);
    let parts = [
        ran_on(&name, &kernels, core, op.core()),
        Check::close(&name, &kernels, &got, &[y_want, z_want].concat(), case.tolerance),
    ];
    Ok(Check::all(&name, &kernels, &parts))
}

/// dW and db (`accumulate`d onto old gradients or not), then dX and dZ, of the case on
/// `core`, whole buffers. With `below`, the activation of a layer below whose gradient dX's
/// epilogue applies, dX must be (dZ·W) ⊙ act'(Z below). Copies sharing an input block
/// cannot each write its gradient: no dX then, and its buffer must be left alone.
pub fn check_backward(
    gpu: &Gpu,
    core: Core,
    case: &Case,
    accumulate: bool,
    below: Option<Activation>,
) -> Result<[Check; 2]> {
    let (rows, in_dim, out_dim, l) = (case.rows, case.in_dim, case.out_dim, case.layout);
    let layer = case.layer();
    let copies = case.strides();
    let x = values(case.seed, case.inputs() * case.input_blocks(), 2.0);
    let z = values(case.seed + 2, case.outputs() * case.copies, 3.0);
    let dy = values(case.seed + 3, case.outputs() * case.copies, 1.0);
    let params = case.params(&copies);
    let w = take(&params, layer.weight_off, copies.params_stride, case.copies, case.weights());
    let x_copies = case.copy_inputs(&x, false);
    let want = reference::linear::backward_copies(
        &x_copies,
        &w,
        &z,
        &dy,
        case.copies,
        Dense { rows, in_dim, out_dim, act: case.act },
    );
    let with_dx = case.input_group == 1;

    let old_grads = values(case.seed + 4, params.len(), 1.0);
    let mut x_host = case.buffer(l.x, copies.input_stride, case.inputs(), 9.0);
    let mut z_host = case.buffer(l.z, copies.output_stride, case.outputs(), 0.5);
    let mut dy_host = case.buffer(l.dy, copies.output_stride, case.outputs(), 7.0);
    place(&mut x_host, l.x, copies.input_stride, &x, case.inputs());
    place(&mut z_host, l.z, copies.output_stride, &z, case.outputs());
    place(&mut dy_host, l.dy, copies.output_stride, &dy, case.outputs());
    let dx_init = case.buffer(l.dx, copies.input_stride, case.inputs(), -3.0);
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x_host)?;
    let z_buf = GpuBuffer::from_slice(gpu, "z", &z_host)?;
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params)?;
    let dy_buf = GpuBuffer::from_slice(gpu, "dy", &dy_host)?;
    let g_buf = GpuBuffer::from_slice(gpu, "grads", &old_grads)?;
    let dx_buf = GpuBuffer::from_slice(gpu, "dx", &dx_init)?;
    // The layer below's pre-activation lies like dX, with junk around it.
    let z_below = values(case.seed + 5, case.inputs() * case.copies, 3.0);
    let mut z_below_host = case.buffer(l.dx, copies.input_stride, case.inputs(), 9.0);
    place(&mut z_below_host, l.dx, copies.input_stride, &z_below, case.inputs());
    let z_below_buf = GpuBuffer::from_slice(gpu, "z below", &z_below_host)?;
    let dx_arg = with_dx.then(|| InputGradient { dx: &dx_buf, below: below.map(|act| (&z_below_buf, act)) });
    let op = LinearBackward::with_core(gpu, core, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, dx_arg)?;
    let mut rec = Recorder::new(gpu);
    let offsets = BackwardOffsets { x: l.x, z: l.z, dy: l.dy, dx: l.dx, z_below: l.dx };
    op.record_copies(&mut rec, &layer, case.act, rows, offsets, copies, accumulate);
    rec.submit_and_wait()?;

    let mut grads_want = old_grads.clone();
    let added = |old: Vec<f32>, new: &[f32]| -> Vec<f32> {
        old.iter().zip(new).map(|(o, n)| if accumulate { o + n } else { *n }).collect()
    };
    let stride = copies.params_stride;
    let dw = added(take(&old_grads, layer.weight_off, stride, case.copies, case.weights()), &want.dw);
    let db = added(take(&old_grads, layer.bias_off, stride, case.copies, out_dim), &want.db);
    place(&mut grads_want, layer.weight_off, stride, &dw, case.weights());
    place(&mut grads_want, layer.bias_off, stride, &db, out_dim);
    let mut dx_want = dx_init;
    if with_dx {
        let dx: Vec<f32> = match below {
            None => want.dx.clone(),
            Some(act) => {
                want.dx.iter().zip(&z_below).map(|(&g, &v)| g * reference::activation::activate_grad(v, act)).collect()
            }
        };
        place(&mut dx_want, l.dx, copies.input_stride, &dx, case.inputs());
    }
    // dZ = dY ⊙ act'(Z) is left in the dY buffer.
    let mut dz_want = dy_host;
    let dz: Vec<f32> =
        dy.iter().zip(&z).map(|(&g, &v)| g * reference::activation::activate_grad(v, case.act)).collect();
    place(&mut dz_want, l.dy, copies.output_stride, &dz, case.outputs());

    let (splits, _) = weight_splits(rows, out_dim, in_dim);
    let kernels = [ACTIVATION_BACKWARD, products(core)[1]];
    let grad_kernels = if splits > 1 { [&kernels[..], &[SUM_SPLITS]].concat() } else { kernels.to_vec() };
    let grads = case.name(
        &if splits > 1 { format!("backward dW, db in {splits} row chunks") } else { "backward dW, db".into() },
        core,
    );
    let inputs = case.name("backward dX", core);
    let got = [dx_buf.read::<f32>(gpu)?, dy_buf.read(gpu)?].concat();
    let input_parts = [
        ran_on(&inputs, &kernels, core, op.core()),
        Check::close(&inputs, &kernels, &got, &[dx_want, dz_want].concat(), case.tolerance),
    ];
    Ok([
        Check::close(&grads, &grad_kernels, &g_buf.read::<f32>(gpu)?, &grads_want, case.grad_tolerance),
        Check::all(&inputs, &kernels, &input_parts),
    ])
}
