//! The linear layer kernels against their CPU twin, on random inputs of odd sizes, on both
//! matmul cores, single and in copies.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::linear::{
    BackwardOffsets, Copies, Core, ForwardOffsets, InputGradient, LinearBackward, LinearForward,
};
use qipo::nn::Activation;
use qipo::ops::LayerShape;
use qipo::reference;

/// Every core on the ladder, so a new one is checked as soon as it is added.
const CORES: [Core; Core::LADDER.len()] = Core::LADDER;

/// (rows, in, out): odd sizes on both sides of the 64-wide tiles and the 16-deep k steps.
const SHAPES: [(usize, usize, usize); 10] = [
    (1, 1, 1),
    (7, 33, 5),
    (33, 7, 257),
    (257, 17, 33),
    (1, 257, 7),
    (65, 64, 63),
    (37, 29, 13),   // the forward product's m = 37, n = 13, k = 29
    (300, 46, 256), // a hidden layer on an odd batch
    (68, 32, 48),   // every size a multiple of 4: with aligned offsets, all loads are vec4s
    (0, 5, 3),
];

/// Where the operands sit in their buffers, and the gap after each copy.
#[derive(Clone, Copy, Debug)]
struct Layout {
    weight: usize,
    x: usize,
    y: usize,
    z: usize,
    dy: usize,
    dx: usize,
    /// Copies start at multiples of this.
    align: usize,
}

/// Odd offsets, where the tiled core must load scalars.
const ODD: Layout = Layout { weight: 3, x: 5, y: 2, z: 1, dy: 6, dx: 1, align: 1 };
/// Offsets and strides of whole vec4s, where it may load vec4s.
const ALIGNED: Layout = Layout { weight: 4, x: 8, y: 0, z: 4, dy: 12, dx: 4, align: 4 };

impl Layout {
    /// The distance between copies of `len` values: at least one value apart.
    fn stride(&self, len: usize) -> usize {
        (len + 1).next_multiple_of(self.align)
    }
}

/// One layer (or `copies` of it) to check.
#[derive(Clone, Copy, Debug)]
struct Case {
    rows: usize,
    in_dim: usize,
    out_dim: usize,
    act: Activation,
    copies: usize,
    /// Consecutive copies reading one input block (`Copies::input_group`).
    input_group: usize,
    layout: Layout,
    seed: u64,
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

/// Parameters with each copy's W and b at its place, random values between copies.
fn params(case: &Case, strides: &Copies) -> Vec<f32> {
    let layer = case.layer();
    let per_copy = case.weights() + case.out_dim;
    let len = layer.weight_off + strides.params_stride * (case.copies - 1) + per_copy;
    random(case.seed + 1000, len, 0.5)
}

/// Forward of `case`; `shared_input` gives every copy the same X (input stride 0).
fn check_forward(core: Core, case: Case, shared_input: bool) {
    let gpu = gpu();
    let (rows, in_dim, out_dim, l) = (case.rows, case.in_dim, case.out_dim, case.layout);
    let layer = case.layer();
    let mut copies = case.strides();
    if shared_input {
        copies.input_stride = 0;
    }
    let x = random(case.seed, case.inputs() * if shared_input { 1 } else { case.input_blocks() }, 2.0);
    let params = params(&case, &copies);
    let w = take(&params, layer.weight_off, copies.params_stride, case.copies, case.weights());
    let b = take(&params, layer.bias_off, copies.params_stride, case.copies, out_dim);
    let x_copies = case.copy_inputs(&x, shared_input);
    let (z_ref, y_ref) =
        reference::linear::forward_copies(&x_copies, &w, &b, case.copies, false, rows, in_dim, out_dim, case.act);

    let mut x_host = case.buffer(l.x, copies.input_stride, case.inputs(), 9.0);
    place(&mut x_host, l.x, copies.input_stride, &x, case.inputs());
    let y_init = case.buffer(l.y, copies.output_stride, case.outputs(), 0.0);
    let z_init = case.buffer(l.z, copies.output_stride, case.outputs(), -1.0);
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x_host).unwrap();
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params).unwrap();
    let y_buf = GpuBuffer::from_slice(gpu, "y", &y_init).unwrap();
    let z_buf = GpuBuffer::from_slice(gpu, "z", &z_init).unwrap();
    let op = LinearForward::with_core(gpu, core, &x_buf, &p_buf, &y_buf, &z_buf).unwrap();
    assert_eq!(op.core(), core, "{case:?}: the core asked for");
    let mut rec = Recorder::new(gpu);
    let offsets = ForwardOffsets { x: l.x, y: l.y, z: Some(l.z) };
    op.record_copies(&mut rec, &layer, case.act, rows, offsets, copies);
    rec.submit_and_wait().unwrap();

    // Whole buffers: the values between copies must be left alone.
    let (mut y_want, mut z_want) = (y_init, z_init);
    place(&mut y_want, l.y, copies.output_stride, &y_ref, case.outputs());
    place(&mut z_want, l.z, copies.output_stride, &z_ref, case.outputs());
    let what = format!(
        "{core:?} forward {}×{rows}x{in_dim}->{out_dim} {:?} {l:?} shared={shared_input} group={}",
        case.copies, case.act, case.input_group
    );
    assert_close(&format!("{what} y"), &y_buf.read::<f32>(gpu).unwrap(), &y_want, 1e-5);
    assert_close(&format!("{what} z"), &z_buf.read::<f32>(gpu).unwrap(), &z_want, 1e-5);
}

fn check_backward(core: Core, case: Case, accumulate: bool) {
    check_backward_below(core, case, accumulate, None);
}

/// [`check_backward`], with `below` the activation of a layer below whose gradient dX's
/// epilogue applies: dX must then be (dZ·W) ⊙ act'(Z below).
fn check_backward_below(core: Core, case: Case, accumulate: bool, below: Option<Activation>) {
    let gpu = gpu();
    let (rows, in_dim, out_dim, l) = (case.rows, case.in_dim, case.out_dim, case.layout);
    let layer = case.layer();
    let copies = case.strides();
    let x = random(case.seed, case.inputs() * case.input_blocks(), 2.0);
    let z = random(case.seed + 2, case.outputs() * case.copies, 3.0);
    let dy = random(case.seed + 3, case.outputs() * case.copies, 1.0);
    let params = params(&case, &copies);
    let w = take(&params, layer.weight_off, copies.params_stride, case.copies, case.weights());
    let x_copies = case.copy_inputs(&x, false);
    let want = reference::linear::backward_copies(&x_copies, &w, &z, &dy, case.copies, rows, in_dim, out_dim, case.act);
    // Copies sharing an input block cannot each write its gradient: no dX then.
    let with_dx = case.input_group == 1;

    let old_grads = random(case.seed + 4, params.len(), 1.0);
    let mut x_host = case.buffer(l.x, copies.input_stride, case.inputs(), 9.0);
    let mut z_host = case.buffer(l.z, copies.output_stride, case.outputs(), 0.5);
    let mut dy_host = case.buffer(l.dy, copies.output_stride, case.outputs(), 7.0);
    place(&mut x_host, l.x, copies.input_stride, &x, case.inputs());
    place(&mut z_host, l.z, copies.output_stride, &z, case.outputs());
    place(&mut dy_host, l.dy, copies.output_stride, &dy, case.outputs());
    let dx_init = case.buffer(l.dx, copies.input_stride, case.inputs(), -3.0);
    let x_buf = GpuBuffer::from_slice(gpu, "x", &x_host).unwrap();
    let z_buf = GpuBuffer::from_slice(gpu, "z", &z_host).unwrap();
    let p_buf = GpuBuffer::from_slice(gpu, "params", &params).unwrap();
    let dy_buf = GpuBuffer::from_slice(gpu, "dy", &dy_host).unwrap();
    let g_buf = GpuBuffer::from_slice(gpu, "grads", &old_grads).unwrap();
    let dx_buf = GpuBuffer::from_slice(gpu, "dx", &dx_init).unwrap();
    // The layer below's pre-activation lies like dX, with junk around it.
    let z_below = random(case.seed + 5, case.inputs() * case.copies, 3.0);
    let mut z_below_host = case.buffer(l.dx, copies.input_stride, case.inputs(), 9.0);
    place(&mut z_below_host, l.dx, copies.input_stride, &z_below, case.inputs());
    let z_below_buf = GpuBuffer::from_slice(gpu, "z below", &z_below_host).unwrap();
    let dx_arg = with_dx.then(|| InputGradient { dx: &dx_buf, below: below.map(|act| (&z_below_buf, act)) });
    let op = LinearBackward::with_core(gpu, core, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, dx_arg).unwrap();
    assert_eq!(op.core(), core, "{case:?}: the core asked for");
    let mut rec = Recorder::new(gpu);
    let offsets = BackwardOffsets { x: l.x, z: l.z, dy: l.dy, dx: l.dx, z_below: l.dx };
    op.record_copies(&mut rec, &layer, case.act, rows, offsets, copies, accumulate);
    rec.submit_and_wait().unwrap();

    let what = format!(
        "{core:?} backward {}×{rows}x{in_dim}->{out_dim} {:?} {l:?} group={} accumulate={accumulate} below={below:?}",
        case.copies, case.act, case.input_group
    );
    let mut grads_want = old_grads.clone();
    let added = |old: Vec<f32>, new: &[f32]| -> Vec<f32> {
        old.iter().zip(new).map(|(o, n)| if accumulate { o + n } else { *n }).collect()
    };
    let stride = copies.params_stride;
    let dw = added(take(&old_grads, layer.weight_off, stride, case.copies, case.weights()), &want.dw);
    let db = added(take(&old_grads, layer.bias_off, stride, case.copies, out_dim), &want.db);
    place(&mut grads_want, layer.weight_off, stride, &dw, case.weights());
    place(&mut grads_want, layer.bias_off, stride, &db, out_dim);
    // Without dX the buffer must be left alone.
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
    let mut dz_want = dy_host;
    let dz: Vec<f32> =
        dy.iter().zip(&z).map(|(&g, &v)| g * reference::activation::activate_grad(v, case.act)).collect();
    place(&mut dz_want, l.dy, copies.output_stride, &dz, case.outputs());
    assert_close(&format!("{what} dW, db"), &g_buf.read::<f32>(gpu).unwrap(), &grads_want, 1e-5);
    assert_close(&format!("{what} dx"), &dx_buf.read::<f32>(gpu).unwrap(), &dx_want, 1e-5);
    assert_close(&format!("{what} dz"), &dy_buf.read::<f32>(gpu).unwrap(), &dz_want, 1e-5);
}

fn single(case: usize, (rows, in_dim, out_dim): (usize, usize, usize), act: Activation, layout: Layout) -> Case {
    Case { rows, in_dim, out_dim, act, copies: 1, input_group: 1, layout, seed: 10 * case as u64 + act.code() as u64 }
}

#[test]
fn forward_matches_reference() {
    for core in CORES {
        for (i, &shape) in SHAPES.iter().enumerate() {
            for act in Activation::ALL {
                for layout in [ODD, ALIGNED] {
                    check_forward(core, single(i, shape, act, layout), false);
                }
            }
        }
    }
}

#[test]
fn backward_matches_reference() {
    for core in CORES {
        for (i, &shape) in SHAPES.iter().enumerate() {
            for act in Activation::ALL {
                for layout in [ODD, ALIGNED] {
                    for accumulate in [false, true] {
                        check_backward(core, single(i, shape, act, layout), accumulate);
                    }
                }
            }
        }
    }
}

#[test]
fn copies_match_reference() {
    let shapes = [(37, 29, 13), (300, 46, 256), (68, 32, 48), (1, 3, 11), (0, 5, 3)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for (layout, act) in [(ODD, Activation::Mish), (ALIGNED, Activation::Relu)] {
                let case = Case { rows, in_dim, out_dim, act, copies: 3, input_group: 1, layout, seed: 500 + i as u64 };
                check_forward(core, case, false);
                check_forward(core, case, true);
                check_backward(core, case, false);
                check_backward(core, case, true);
            }
        }
    }
}

/// dX with the activation gradient of the layer below fused into its epilogue, for every
/// activation below, on single layers and on copies, on both cores.
#[test]
fn input_gradient_with_the_activation_below_matches_reference() {
    let shapes = [(37, 29, 13), (68, 32, 48), (1, 3, 11), (5, 1, 7)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for below in Activation::ALL {
                for (layout, copies) in [(ODD, 1), (ALIGNED, 3)] {
                    let seed = 900 + 10 * i as u64 + below.code() as u64;
                    let act = Activation::Mish;
                    let case = Case { rows, in_dim, out_dim, act, copies, input_group: 1, layout, seed };
                    check_backward_below(core, case, false, Some(below));
                }
            }
        }
    }
}

/// Consecutive copies sharing one input block (the twin heads of one seed): each copy's Y, Z,
/// dW and db must be its own layer's on the block it shares, the last group partial.
#[test]
fn copies_in_groups_on_shared_inputs_match_reference() {
    let shapes = [(37, 29, 13), (68, 32, 48), (1, 3, 11), (0, 5, 3)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for (layout, act) in [(ODD, Activation::Mish), (ALIGNED, Activation::Relu)] {
                for (copies, input_group) in [(3, 2), (5, 3)] {
                    let seed = 700 + 10 * i as u64 + copies as u64;
                    let case = Case { rows, in_dim, out_dim, act, copies, input_group, layout, seed };
                    check_forward(core, case, false);
                    check_backward(core, case, false);
                    check_backward(core, case, true);
                }
            }
        }
    }
}

#[test]
fn auto_core_follows_the_device() {
    let gpu = gpu();
    let forced = std::env::var(qipo::kernels::linear::CORE_VAR).ok();
    let want = match forced.as_deref().map(|s| s.parse::<Core>().unwrap()) {
        Some(core) if core != Core::Auto => core,
        _ if gpu.info.device_type == wgpu::DeviceType::Cpu => Core::Direct,
        _ => Core::Tiled,
    };
    assert_eq!(Core::Auto.resolve(gpu).unwrap(), want);
    assert_eq!(Core::Tiled.resolve(gpu).unwrap(), Core::Tiled);
    assert_eq!("Direct".parse::<Core>().unwrap(), Core::Direct);
    assert!("fast".parse::<Core>().is_err());
    // The ladder's numbers, from 1.
    assert_eq!("1".parse::<Core>().unwrap(), Core::Direct);
    assert_eq!("2".parse::<Core>().unwrap(), Core::Tiled);
    assert_eq!(Core::LADDER.map(|c| c.number()), [Some(1), Some(2)]);
    assert_eq!(Core::Auto.number(), None);
    for bad in ["0", "3", "-1"] {
        assert!(bad.parse::<Core>().is_err(), "{bad}");
    }

    // Buffers shorter than a vec4 cannot be read as vec4s: such a layer runs direct.
    let x = GpuBuffer::zeros(gpu, "x", 2).unwrap();
    let params = GpuBuffer::zeros(gpu, "params", 6).unwrap();
    let (y, z) = (GpuBuffer::zeros(gpu, "y", 2).unwrap(), GpuBuffer::zeros(gpu, "z", 2).unwrap());
    let op = LinearForward::with_core(gpu, Core::Tiled, &x, &params, &y, &z).unwrap();
    assert_eq!(op.core(), Core::Direct);
}

#[test]
fn activation_gradients_match_finite_differences() {
    let h = 1e-3f64;
    for act in Activation::ALL {
        for i in 0..200 {
            let z = -6.0 + 0.0613 * i as f32;
            if act == Activation::Relu && z.abs() < 1e-2 {
                continue; // the kink
            }
            let f = |v: f64| reference::activation::activate(v as f32, act) as f64;
            let numeric = (f(z as f64 + h) - f(z as f64 - h)) / (2.0 * h);
            let analytic = reference::activation::activate_grad(z, act) as f64;
            assert!((numeric - analytic).abs() < 2e-3, "{act:?}'({z}) = {analytic}, finite difference {numeric}");
        }
    }
}
