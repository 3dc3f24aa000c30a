//! The linear layer: `shaders/linear_forward.wgsl` and `shaders/linear_backward.wgsl`.
//!
//! Shapes follow PyTorch: X is rows×in, W is out×in, b is out, all row-major. Offsets are
//! in elements, so one flat buffer can hold every layer's parameters, and [`Copies`] runs
//! several layers of one shape, stored back to back, in the same dispatches.
//!
//! The matrix products have three cores ([`Core`]) that add the same products in the same
//! order, so they give the same bits: one reading memory directly, the same with vec4 loads
//! along k, one staging tiles in workgroup memory. CPU drivers such as lavapipe run the direct
//! one; on a GPU, qipo times them and runs the fastest ([`super::core_timing`]).

use anyhow::{bail, Result};

use super::snippets::{ACTIVATIONS, MATMUL, MATMUL_TILED};
use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder, WORKGROUP_1D};
use crate::nn::Activation;
use crate::ops::LayerShape;

const FORWARD_SRC: Source = ("linear_forward.wgsl", include_str!("../../shaders/linear_forward.wgsl"));
const BACKWARD_SRC: Source = ("linear_backward.wgsl", include_str!("../../shaders/linear_backward.wgsl"));

use Access::{Read, ReadWrite};

/// Y = act(X·Wᵀ + b). Bindings: X, parameters, Y, Z (pre-activation).
pub const FORWARD: Kernel = Kernel {
    sources: &[ACTIVATIONS, MATMUL, MATMUL_TILED, FORWARD_SRC],
    entry: "forward",
    bindings: &[Read, Read, ReadWrite, ReadWrite],
};
/// [`FORWARD`] on the tiled core. Bindings: X, parameters, Y, Z, then X and parameters again
/// (read as vec4s).
pub const FORWARD_TILED: Kernel =
    Kernel { entry: "forward_tiled", bindings: &[Read, Read, ReadWrite, ReadWrite, Read, Read], ..FORWARD };
/// [`FORWARD`] on the vec4 core. Bindings: those of [`FORWARD_TILED`].
pub const FORWARD_VEC4: Kernel = Kernel { entry: "forward_vec4", ..FORWARD_TILED };
/// dW = dZᵀ·X, db = dZᵀ·1 and dX = dZ·W in one dispatch, or with the layer below's activation
/// gradient fused in, that layer's dZ = (dZ·W) ⊙ act'(Z below) in place of dX. Bindings: dZ,
/// X, gradients, parameters, dX, Z below.
pub const BACKWARD: Kernel = Kernel {
    sources: &[ACTIVATIONS, MATMUL, MATMUL_TILED, BACKWARD_SRC],
    entry: "backward",
    bindings: &[Read, Read, ReadWrite, Read, ReadWrite, Read],
};
/// [`BACKWARD`] on the tiled core. Bindings: those of [`BACKWARD`], then dZ, X and the
/// parameters again (read as vec4s).
pub const BACKWARD_TILED: Kernel = Kernel {
    entry: "backward_tiled",
    bindings: &[Read, Read, ReadWrite, Read, ReadWrite, Read, Read, Read, Read],
    ..BACKWARD
};
/// dZ = dY ⊙ act'(Z) in place. Bindings: Z, (unused), dY.
pub const ACTIVATION_BACKWARD: Kernel =
    Kernel { entry: "activation_backward", bindings: &[Read, Read, ReadWrite], ..BACKWARD };
/// dW and db as the sums of their row chunks' partials ([`weight_splits`]). Bindings:
/// partials, (unused), gradients.
pub const SUM_SPLITS: Kernel = Kernel { entry: "sum_splits", bindings: &[Read, Read, ReadWrite], ..BACKWARD };

pub const KERNELS: [Kernel; 7] =
    [FORWARD, FORWARD_TILED, FORWARD_VEC4, BACKWARD, BACKWARD_TILED, ACTIVATION_BACKWARD, SUM_SPLITS];

const FLAG_BIAS: u32 = 1;
const FLAG_STORE_Z: u32 = 2;
const FLAG_ACCUMULATE: u32 = 4;
const FLAG_ACT_GRAD: u32 = 16;

/// The environment variable that overrides [`Core::Auto`].
pub const CORE_VAR: &str = "QIPO_MATMUL";

/// Which core computes the matrix products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Core {
    /// [`Core::Direct`] on CPU drivers; on everything else the core that ran fastest on the
    /// device itself ([`super::core_timing`]), unless `QIPO_MATMUL=direct|tiled` (or the
    /// core's number) says otherwise.
    #[default]
    Auto,
    /// Register blocks read straight from memory, no barriers: fastest on CPU drivers.
    Direct,
    /// Tiles staged in workgroup memory with vec4 loads, for GPUs whose caches do not serve
    /// the direct core well. Operands in buffers shorter than one vec4 (4 values) cannot be
    /// bound as vec4s; such layers run direct.
    Tiled,
    /// The direct core reading four k at a time as vec4s where both operands run along k:
    /// the forward product, whose weight rows neighbouring invocations read apart. Forward
    /// layers whose rows do not start on a vec4 (an input width not a multiple of 4) read as
    /// the direct core does; the backward pass is the direct core's.
    Vec4,
}

impl std::str::FromStr for Core {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let by_number = s.parse::<usize>().ok().and_then(|n| Core::LADDER.get(n.wrapping_sub(1)));
        Ok(match (s.to_ascii_lowercase().as_str(), by_number) {
            (_, Some(&core)) => core,
            ("auto", _) => Core::Auto,
            ("direct", _) => Core::Direct,
            ("tiled", _) => Core::Tiled,
            ("vec4", _) => Core::Vec4,
            _ => {
                bail!(
                    "unknown matmul core '{s}' (auto, direct, tiled or vec4, or a number from 1 to {})",
                    Core::LADDER.len()
                )
            }
        })
    }
}

impl Core {
    /// Every core, numbered from 1 in this order (as llm.c numbers its kernels):
    /// `qipo bench kernels` times each at every shape, and `QIPO_MATMUL=2` forces the second.
    pub const LADDER: [Core; 3] = [Core::Direct, Core::Tiled, Core::Vec4];

    /// The core's number on [`Core::LADDER`]; `None` for [`Core::Auto`].
    pub fn number(self) -> Option<usize> {
        Core::LADDER.iter().position(|&c| c == self).map(|i| i + 1)
    }

    pub fn name(self) -> &'static str {
        match self {
            Core::Auto => "auto",
            Core::Direct => "direct",
            Core::Tiled => "tiled",
            Core::Vec4 => "vec4",
        }
    }

    /// The core `Auto` stands for on `gpu`; `Direct` and `Tiled` stay as they are.
    pub fn resolve(self, gpu: &Gpu) -> Result<Core> {
        if self != Core::Auto {
            return Ok(self);
        }
        if let Ok(forced) = std::env::var(CORE_VAR) {
            let core: Core = forced.parse().map_err(|e| anyhow::anyhow!("{CORE_VAR}: {e}"))?;
            if core != Core::Auto {
                return Ok(core);
            }
        }
        if gpu.info.device_type == wgpu::DeviceType::Cpu {
            return Ok(Core::Direct); // no barriers, no staging: always the faster on a CPU
        }
        Ok(super::core_timing::auto_times(gpu)?.fastest())
    }

    /// The core a layer runs on: the one asked for where the device binds as many buffers as
    /// its kernel (`kernel_of`) needs and every operand read as vec4s holds one; else direct.
    fn pick(self, gpu: &Gpu, kernel_of: impl Fn(Core) -> Kernel, vec4_operands: &[&GpuBuffer]) -> Result<Core> {
        let core = self.resolve(gpu)?;
        let fits = vec4_operands.iter().all(|b| b.len >= 4)
            && kernel_of(core).bindings.len() as u64 <= gpu.limits.max_storage_buffers_per_shader_stage as u64;
        Ok(if fits { core } else { Core::Direct })
    }
}

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
    pub a_batch_stride: u32,
    pub b_off: u32,
    pub b_row_stride: u32,
    pub b_col_stride: u32,
    pub b_batch_stride: u32,
    pub c_off: u32,
    pub c_batch_stride: u32,
    pub bias_off: u32,
    pub z_off: u32,
    pub act: u32,
    pub flags: u32,
    pub a_batch_group: u32,
    pub b_batch_group: u32,
}

/// `count` layers of one shape run as one: copy `s` finds each operand at its offset plus `s`
/// times the stride (in elements) of the buffer the operand lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copies {
    pub count: usize,
    /// Between copies' weights and biases, and between their gradients.
    pub params_stride: usize,
    /// Between copies' inputs X, and their gradients dX. 0 shares one input (then the
    /// backward pass cannot compute dX).
    pub input_stride: usize,
    /// Between copies' outputs Y, pre-activations Z and output gradients dY.
    pub output_stride: usize,
    /// Consecutive copies sharing one input block (the twin heads of one seed): copy s reads
    /// input block s / input_group. 1: each copy its own. With more, dX cannot be computed.
    pub input_group: usize,
}

impl Copies {
    /// A single layer.
    pub const ONE: Copies = Copies { count: 1, params_stride: 0, input_stride: 0, output_stride: 0, input_group: 1 };

    /// Copies must not write over each other's outputs, and fit in a dispatch.
    fn check(&self, gpu: &Gpu, rows: usize, layer: &LayerShape) {
        let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
        assert!(self.count <= max, "{} copies, a dispatch takes at most {max}", self.count);
        if self.count > 1 {
            assert!(
                self.output_stride >= rows * layer.out_dim,
                "copies of {rows}×{} outputs {} apart overlap",
                layer.out_dim,
                self.output_stride
            );
        }
    }
}

impl Default for Copies {
    fn default() -> Self {
        Copies::ONE
    }
}

/// Workgroups covering `batch` m×n outputs in 64×64 tiles (16×16 invocations of 4×4 outputs),
/// the same for both cores.
fn tile_grid(m: usize, n: usize, batch: usize) -> [u32; 3] {
    [n.div_ceil(64).max(1) as u32, m.div_ceil(64).max(1) as u32, u(batch)]
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// Element offsets of the forward pass's operands in their buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardOffsets {
    pub x: usize,
    pub y: usize,
    /// Where the pre-activation goes; `None` keeps none.
    pub z: Option<usize>,
}

/// The forward kernel bound to its buffers.
pub struct LinearForward {
    op: Bound,
    core: Core,
}

impl LinearForward {
    /// `z` receives the pre-activation when `record` is asked to store it; pass any buffer
    /// (distinct from `y`) otherwise. The core is [`Core::Auto`]'s choice.
    pub fn new(gpu: &Gpu, x: &GpuBuffer, params: &GpuBuffer, y: &GpuBuffer, z: &GpuBuffer) -> Result<Self> {
        Self::with_core(gpu, Core::Auto, x, params, y, z)
    }

    /// [`Self::new`] on a chosen core.
    pub fn with_core(
        gpu: &Gpu,
        core: Core,
        x: &GpuBuffer,
        params: &GpuBuffer,
        y: &GpuBuffer,
        z: &GpuBuffer,
    ) -> Result<Self> {
        let core = core.pick(gpu, Self::kernel, &[x, params])?;
        let op = match core {
            Core::Tiled | Core::Vec4 => Bound::new(gpu, &Self::kernel(core), &[x, params, y, z, x, params])?,
            _ => Bound::new(gpu, &FORWARD, &[x, params, y, z])?,
        };
        Ok(Self { op, core })
    }

    /// The forward kernel of a core.
    pub fn kernel(core: Core) -> Kernel {
        match core {
            Core::Tiled => FORWARD_TILED,
            Core::Vec4 => FORWARD_VEC4,
            _ => FORWARD,
        }
    }

    /// The core this layer runs on: never [`Core::Auto`].
    pub fn core(&self) -> Core {
        self.core
    }

    /// Records Y = act(X·Wᵀ + b) for `rows` rows, each operand from its offset.
    pub fn record(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        offsets: ForwardOffsets,
    ) {
        self.record_copies(rec, layer, act, rows, offsets, Copies::ONE);
    }

    /// Records the forward pass of every copy of the layer in one dispatch.
    pub fn record_copies(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        offsets: ForwardOffsets,
        copies: Copies,
    ) {
        copies.check(rec.gpu(), rows, layer);
        if rows == 0 || copies.count == 0 {
            return;
        }
        let params = MatmulParams {
            m: u(rows),
            n: u(layer.out_dim),
            k: u(layer.in_dim),
            a_off: u(offsets.x),
            a_row_stride: u(layer.in_dim),
            a_col_stride: 1,
            a_batch_stride: u(copies.input_stride),
            a_batch_group: u(copies.input_group),
            b_batch_group: 1,
            // B(k, n) = W[n, k]
            b_off: u(layer.weight_off),
            b_row_stride: 1,
            b_col_stride: u(layer.in_dim),
            b_batch_stride: u(copies.params_stride),
            c_off: u(offsets.y),
            c_batch_stride: u(copies.output_stride),
            bias_off: u(layer.bias_off),
            z_off: u(offsets.z.unwrap_or(0)),
            act: act.code(),
            flags: FLAG_BIAS | if offsets.z.is_some() { FLAG_STORE_Z } else { 0 },
        };
        self.op.record(rec, &params, tile_grid(rows, layer.out_dim, copies.count));
    }
}

/// Workgroups of dW a layer should have before its rows are split into chunks: enough to
/// fill a large GPU, few enough that the partial sums stay small.
const WEIGHT_WORKGROUPS: usize = 128;
/// Rows per chunk at least: shorter sums are not worth another pass.
const MIN_SPLIT_ROWS: usize = 256;
const MAX_SPLITS: usize = 16;

/// Into how many chunks of how many rows the weight gradient's sum over `rows` rows is cut,
/// so that a layer with few tiles of dW still has enough workgroups: `(1, rows)` for layers
/// with many tiles, and for short batches. It depends on the layer's shape alone, not on the
/// copies or the device, so copies trained together add up exactly as each alone would (unless
/// their partial sums together would not fit one binding: then dW is summed in one go).
pub fn weight_splits(rows: usize, out_dim: usize, in_dim: usize) -> (usize, usize) {
    let tiles = out_dim.div_ceil(64) * in_dim.div_ceil(64);
    let splits = WEIGHT_WORKGROUPS.div_ceil(tiles).min(rows / MIN_SPLIT_ROWS).clamp(1, MAX_SPLITS);
    if splits == 1 {
        return (1, rows);
    }
    let split_rows = rows.div_ceil(splits).next_multiple_of(16); // whole k-steps of the tiled core
    (rows.div_ceil(split_rows), split_rows)
}

/// The partial sums of split weight gradients, and the kernels bound to them: made on the
/// first split pass, and again larger when a pass needs more.
struct SplitPartials {
    partials: GpuBuffer,
    /// The products with the partials bound in the gradients' slot.
    products: Bound,
    sum: Bound,
}

/// The backward kernels of one layer bound to its buffers.
pub struct LinearBackward {
    activation: Bound,
    /// dW, db and (with an input gradient) dX.
    products: Bound,
    /// What `products` binds, and to which kernel: the split passes bind the same but partials.
    product_kernel: Kernel,
    product_buffers: Vec<GpuBuffer>,
    split: std::sync::Mutex<Option<SplitPartials>>,
    has_dx: bool,
    /// The activation of the layer below, whose gradient dX's epilogue applies.
    below: Option<Activation>,
    core: Core,
}

/// Where the gradient of a layer's input goes: `dx`, and with `below`, the pre-activation
/// and activation of the layer below, so that dX comes out as that layer's dZ (its backward
/// pass then skips its own activation step).
#[derive(Clone, Copy)]
pub struct InputGradient<'a> {
    pub dx: &'a GpuBuffer,
    pub below: Option<(&'a GpuBuffer, Activation)>,
}

impl<'a> InputGradient<'a> {
    /// dX alone.
    pub fn plain(dx: &'a GpuBuffer) -> Self {
        Self { dx, below: None }
    }
}

/// The immediates of the backward kernels (`struct LinearGrad` in shaders/linear_backward.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LinearGradParams {
    rows: u32,
    out_dim: u32,
    in_dim: u32,
    dz_off: u32,
    z_off: u32,
    output_stride: u32,
    x_off: u32,
    input_stride: u32,
    input_group: u32,
    weight_off: u32,
    bias_off: u32,
    params_stride: u32,
    dx_off: u32,
    z_below_off: u32,
    act: u32,
    act_below: u32,
    flags: u32,
    weight_tiles: u32,
    weight_splits: u32,
    split_rows: u32,
}

impl LinearBackward {
    /// `dy` holds the gradient of the layer's output and is turned into dZ in place; `x` is
    /// the layer's input, `z` its pre-activation. `dx`, when given, receives the gradient of
    /// the input (the first layer of a network needs none). The core is [`Core::Auto`]'s choice.
    pub fn new(
        gpu: &Gpu,
        x: &GpuBuffer,
        z: &GpuBuffer,
        params: &GpuBuffer,
        dy: &GpuBuffer,
        grads: &GpuBuffer,
        dx: Option<InputGradient>,
    ) -> Result<Self> {
        Self::with_core(gpu, Core::Auto, x, z, params, dy, grads, dx)
    }

    /// [`Self::new`] on a chosen core.
    #[allow(clippy::too_many_arguments)]
    pub fn with_core(
        gpu: &Gpu,
        core: Core,
        x: &GpuBuffer,
        z: &GpuBuffer,
        params: &GpuBuffer,
        dy: &GpuBuffer,
        grads: &GpuBuffer,
        dx: Option<InputGradient>,
    ) -> Result<Self> {
        let core = core.pick(gpu, Self::kernel, &[dy, x, params])?;
        // Without dX, the gradient buffer fills its binding (no workgroup writes it there);
        // without a layer below to fuse, dZ fills the Z-below binding.
        let dx_buf = dx.map_or(grads, |d| d.dx);
        let z_below = dx.and_then(|d| d.below).map_or(dy, |(z, _)| z);
        let product_kernel = Self::kernel(core);
        let product_buffers = match core {
            Core::Tiled => vec![dy, x, grads, params, dx_buf, z_below, dy, x, params],
            _ => vec![dy, x, grads, params, dx_buf, z_below],
        };
        Ok(Self {
            activation: Bound::new(gpu, &ACTIVATION_BACKWARD, &[z, z, dy])?,
            products: Bound::new(gpu, &product_kernel, &product_buffers)?,
            product_kernel,
            product_buffers: product_buffers.into_iter().cloned().collect(),
            split: std::sync::Mutex::new(None),
            has_dx: dx.is_some(),
            below: dx.and_then(|d| d.below).map(|(_, act)| act),
            core,
        })
    }

    /// The core this layer's products run on: never [`Core::Auto`]. ([`Core::Vec4`] runs
    /// the direct core's backward kernel.)
    pub fn core(&self) -> Core {
        self.core
    }

    /// The products' kernel of a core.
    pub fn kernel(core: Core) -> Kernel {
        match core {
            Core::Tiled => BACKWARD_TILED,
            _ => BACKWARD,
        }
    }

    /// Records the backward pass for `rows` rows. With `accumulate`, the parameter gradients
    /// are added to what the gradient buffer holds.
    pub fn record(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        offsets: BackwardOffsets,
        accumulate: bool,
    ) {
        self.record_copies(rec, layer, act, rows, offsets, Copies::ONE, accumulate);
    }

    /// Records the backward pass of every copy of the layer: dW, db and dX in one dispatch,
    /// after the activation gradient's when `act` is not the identity. With no rows the
    /// parameter gradients are zero (or, with `accumulate`, left as they are). `act` is the
    /// layer's activation, whose gradient is applied to dY first; pass
    /// [`Activation::Identity`] when dY already holds dZ (the layer above fused it in).
    #[allow(clippy::too_many_arguments)]
    pub fn record_copies(
        &self,
        rec: &mut Recorder,
        layer: &LayerShape,
        act: Activation,
        rows: usize,
        offsets: BackwardOffsets,
        copies: Copies,
        accumulate: bool,
    ) {
        copies.check(rec.gpu(), rows, layer);
        if copies.count > 1 {
            assert!(copies.params_stride > 0, "copies of a layer cannot share its gradients");
            assert!(
                !self.has_dx || copies.input_group <= 1,
                "copies sharing an input block cannot each write its gradient"
            );
            assert!(
                !self.has_dx || copies.input_stride >= rows * layer.in_dim,
                "copies of {rows}×{} input gradients {} apart overlap",
                layer.in_dim,
                copies.input_stride
            );
        }
        if copies.count == 0 {
            return;
        }
        let weight_tiles = layer.out_dim.div_ceil(64).max(1);
        let input_tiles = if self.has_dx && rows > 0 { rows.div_ceil(64) } else { 0 };
        let (splits, split_rows) = weight_splits(rows, layer.out_dim, layer.in_dim);
        let (below_flag, act_below) = match self.below {
            Some(below) => (FLAG_ACT_GRAD, below.code()),
            None => (0, 0),
        };
        let params = LinearGradParams {
            rows: u(rows),
            out_dim: u(layer.out_dim),
            in_dim: u(layer.in_dim),
            dz_off: u(offsets.dy),
            z_off: u(offsets.z),
            output_stride: u(copies.output_stride),
            x_off: u(offsets.x),
            input_stride: u(copies.input_stride),
            input_group: u(copies.input_group),
            weight_off: u(layer.weight_off),
            bias_off: u(layer.bias_off),
            params_stride: u(copies.params_stride),
            dx_off: u(offsets.dx),
            z_below_off: u(offsets.z_below),
            act: act.code(),
            act_below,
            flags: below_flag | if accumulate { FLAG_ACCUMULATE } else { 0 },
            weight_tiles: u(weight_tiles),
            weight_splits: u(splits),
            split_rows: u(split_rows),
        };
        if act != Activation::Identity && rows > 0 {
            let mut grid = grid_1d(rec.gpu(), rows * layer.out_dim, WORKGROUP_1D);
            grid[2] = u(copies.count);
            self.activation.record(rec, &params, grid);
        }
        // Both products have `in` columns: one grid of 64-wide tiles, dW's rows (for every
        // chunk) then dX's.
        let grid = [u(layer.in_dim.div_ceil(64).max(1)), u(weight_tiles * splits + input_tiles), u(copies.count)];
        let part = layer.out_dim * layer.in_dim + layer.out_dim;
        let mut split = self.split.lock().unwrap_or_else(|p| p.into_inner());
        let partials =
            if splits > 1 { self.split_partials(rec.gpu(), &mut split, copies.count * splits * part) } else { None };
        match partials {
            Some(partials) => {
                partials.products.record(rec, &params, grid);
                let mut sum_grid = grid_1d(rec.gpu(), part, WORKGROUP_1D);
                sum_grid[2] = u(copies.count);
                partials.sum.record(rec, &params, sum_grid);
            }
            None => {
                // One chunk, or partials larger than the device binds: dW in one go.
                let whole = LinearGradParams { weight_splits: 1, split_rows: u(rows), ..params };
                let grid = [grid[0], u(weight_tiles + input_tiles), grid[2]];
                self.products.record(rec, &whole, grid);
            }
        }
    }

    /// The partial sums, holding at least `len` values; `None` if the device cannot bind so
    /// many.
    fn split_partials<'s>(
        &self,
        gpu: &Gpu,
        split: &'s mut Option<SplitPartials>,
        len: usize,
    ) -> Option<&'s SplitPartials> {
        if split.as_ref().is_none_or(|s| s.partials.len < len) {
            *split = self.new_split_partials(gpu, len).ok();
        }
        split.as_ref()
    }

    fn new_split_partials(&self, gpu: &Gpu, len: usize) -> Result<SplitPartials> {
        let partials = GpuBuffer::zeros(gpu, "weight gradient partial sums", len)?;
        let mut buffers: Vec<&GpuBuffer> = self.product_buffers.iter().collect();
        let grads = buffers[2];
        buffers[2] = &partials;
        let products = Bound::new(gpu, &self.product_kernel, &buffers)?;
        let sum = Bound::new(gpu, &SUM_SPLITS, &[&partials, &partials, grads])?;
        Ok(SplitPartials { products, sum, partials })
    }
}

/// Element offsets of the backward pass's operands in their buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackwardOffsets {
    pub x: usize,
    pub z: usize,
    pub dy: usize,
    pub dx: usize,
    /// The pre-activation of the layer below, when its activation gradient is fused into dX.
    pub z_below: usize,
}
