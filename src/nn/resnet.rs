//! QGPO's residual velocity network on the GPU: a U-shaped stack of residual blocks, each
//! told the time and the state through a shared embedding (QGPO's `ScoreNet`, Lu et al.
//! 2023, read as a velocity field: without its division by σ_t).
//!
//! Its input rows are the velocity network's usual [x | Fourier features of t | state]:
//!
//! ```text
//! time  = Linear(fourier)                              QGPO's `embed` after its projection
//! state = act(Linear(cond))                            `pre_sort_condition`
//! e     = act(Linear(act(Linear([state | time]))))     `sort_t`, and the act every block's
//!                                                      time_mlp starts with
//! block(input):  h = act(dense1(input)) + time_proj(e);  act(dense2(h)) + skip(input)
//!                (skip is a linear layer where the widths differ, else the identity)
//! d_0 = block(x), d_l = block(d_{l-1})                 the down path, widths w_0 > w_1 > …
//! u_n = block(d_n)                                     the middle block (n = last level)
//! u_{l-1} = block([d_l | u_l])                         the up path, back to w_0
//! v = Linear([d_0 | u_0])
//! ```
//!
//! Every block's time projection is one layer (`time_proj`, its outputs side by side), so
//! one product serves them all. The parameters live in one flat buffer, layer by layer, so
//! Adam, the EMA and checkpoints treat the network like an MLP. On the GPU the network is
//! linear layers joined by one kernel, `shaders/columns.wgsl`, which copies or adds column
//! blocks: concatenations, the time term, the skip connections and, backwards, the splits
//! and sums of gradients. The CPU twin is [`crate::reference::resnet`].

use anyhow::{ensure, Result};

use super::resnet_spec::{BlockInput, ResNetLayout, ResNetSpec};
use super::Activation;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::columns::Columns;
use crate::kernels::linear::{BackwardOffsets, Copies, ForwardOffsets, InputGradient, LinearBackward, LinearForward};
use crate::ops::{ColumnMode, ColumnView, LayerShape};

/// A residual network's parameters and gradients on the GPU: `copies` networks of one
/// shape, back to back.
pub struct ResNet {
    pub spec: ResNetSpec,
    pub layout: ResNetLayout,
    pub copies: usize,
    pub params: GpuBuffer,
    pub grads: GpuBuffer,
}

impl ResNet {
    /// Copies of one shape, copy c with `params[c]`, stored back to back.
    pub fn copies_from_params(gpu: &Gpu, spec: &ResNetSpec, params: &[&[f32]]) -> Result<Self> {
        spec.check()?;
        ensure!(!params.is_empty(), "a network needs at least one copy");
        let layout = spec.layout();
        for copy in params {
            ensure!(
                copy.len() == layout.param_count,
                "{} parameters given for a network of {}",
                copy.len(),
                layout.param_count
            );
        }
        let flat: Vec<f32> = params.concat();
        Ok(Self {
            spec: spec.clone(),
            layout,
            copies: params.len(),
            params: GpuBuffer::from_slice(gpu, "resnet params", &flat)?,
            grads: GpuBuffer::zeros(gpu, "resnet grads", flat.len())?,
        })
    }

    /// How a layer's copies lie on a call over `rows` rows: parameters one network apart,
    /// inputs and outputs `rows` rows apart.
    fn copies_of(&self, layer: &LayerShape, rows: usize) -> Copies {
        Copies {
            count: self.copies,
            params_stride: self.layout.param_count,
            input_stride: rows * layer.in_dim,
            output_stride: rows * layer.out_dim,
            input_group: 1,
        }
    }
}

/// One linear layer of the pass: its bound kernels and its output (and, training, the
/// pre-activation and the gradient of its output).
struct Layer {
    shape: LayerShape,
    act: Activation,
    forward: LinearForward,
    backward: Option<LinearBackward>,
    y: GpuBuffer,
    /// Kept only for layers with an activation, when training.
    z: Option<GpuBuffer>,
    dy: Option<GpuBuffer>,
}

/// What every layer and buffer of a pass shares: the network, its rows per copy, whether it
/// trains, and a one-value buffer bound where a layer keeps no pre-activation.
struct Workspace<'a> {
    gpu: &'a Gpu,
    net: &'a ResNet,
    rows: usize,
    train: bool,
    scratch: GpuBuffer,
}

impl Workspace<'_> {
    /// A buffer of `width` values per row, for every row of every copy.
    fn zeros(&self, name: &str, width: usize) -> Result<GpuBuffer> {
        GpuBuffer::zeros(self.gpu, name, self.net.copies * self.rows * width.max(1))
    }

    /// A layer that reads `x`; with `dx`, its backward pass writes the gradient of x there.
    /// The gradient of its output is its own buffer, or `shared_dy` where the output is
    /// summed into another (a skip connection's into its block's).
    fn layer(
        &self,
        name: &str,
        shape: LayerShape,
        act: Activation,
        x: &GpuBuffer,
        dx: Option<&GpuBuffer>,
        shared_dy: Option<&GpuBuffer>,
    ) -> Result<Layer> {
        let (gpu, net) = (self.gpu, self.net);
        let y = self.zeros(&format!("{name} output"), shape.out_dim)?;
        let z = (self.train && act != Activation::Identity)
            .then(|| self.zeros(&format!("{name} pre-activation"), shape.out_dim))
            .transpose()?;
        let z_or_any = z.as_ref().unwrap_or(&self.scratch);
        let forward = LinearForward::new(gpu, x, &net.params, &y, z_or_any)?;
        let (backward, dy) = if self.train {
            let own = match shared_dy {
                Some(_) => None,
                None => Some(self.zeros(&format!("{name} output gradient"), shape.out_dim)?),
            };
            let dy = shared_dy.or(own.as_ref()).expect("one of the two");
            let dx = dx.map(InputGradient::plain);
            (Some(LinearBackward::new(gpu, x, z_or_any, &net.params, dy, &net.grads, dx)?), own)
        } else {
            (None, None)
        };
        Ok(Layer { shape, act, forward, backward, y, z, dy })
    }
}

impl Layer {
    fn record_forward(&self, rec: &mut Recorder, net: &ResNet, rows: usize) {
        let offsets = ForwardOffsets { x: 0, y: 0, z: self.z.as_ref().map(|_| 0) };
        self.forward.record_copies(rec, &self.shape, self.act, rows, offsets, net.copies_of(&self.shape, rows));
    }

    /// dW, db and (if bound) dX from the gradient of the output, which the activation's
    /// gradient turns into dZ in place.
    fn record_backward(&self, rec: &mut Recorder, net: &ResNet, rows: usize, accumulate: bool) {
        let backward = self.backward.as_ref().expect("a training pass");
        let copies = net.copies_of(&self.shape, rows);
        backward.record_copies(rec, &self.shape, self.act, rows, BackwardOffsets::default(), copies, accumulate);
    }

    fn dy(&self) -> &GpuBuffer {
        self.dy.as_ref().expect("a training pass")
    }
}

/// A column-block move between two buffers, with the widths of the matrices it reads and
/// writes.
struct Move {
    op: Columns,
    width: usize,
    src: (usize, usize),
    dst: (usize, usize),
    mode: ColumnMode,
}

impl Move {
    /// `width` columns from column `src.1` of `src` (rows `src.0` wide) to column `dst.1` of
    /// `dst` (rows `dst.0` wide).
    fn new(
        gpu: &Gpu,
        src: &GpuBuffer,
        src_cols: (usize, usize),
        dst: &GpuBuffer,
        dst_cols: (usize, usize),
        width: usize,
        mode: ColumnMode,
    ) -> Result<Self> {
        Ok(Self { op: Columns::new(gpu, src, dst)?, width, src: src_cols, dst: dst_cols, mode })
    }

    fn record(&self, rec: &mut Recorder, rows: usize, copies: usize) {
        let src = ColumnView::of(self.src.0, self.src.1, rows);
        let dst = ColumnView::of(self.dst.0, self.dst.1, rows);
        self.op.record(rec, rows, self.width, src, dst, self.mode, copies);
    }
}

/// The gradient `d` of level `level`'s concatenation [d_l | u_l] split back into the output
/// gradients of the two blocks that made it (each the first to write there).
fn split_concat(
    gpu: &Gpu,
    d: &GpuBuffer,
    level: usize,
    layout: &ResNetLayout,
    blocks: &[BlockPass],
) -> Result<Vec<Move>> {
    let down = blocks[level].dense2.dy();
    let up = blocks[layout.up_block(level)].dense2.dy();
    let w = blocks[level].dense2.shape.out_dim;
    Ok(vec![
        Move::new(gpu, d, (2 * w, 0), down, (w, 0), w, ColumnMode::Copy)?,
        Move::new(gpu, d, (2 * w, w), up, (w, 0), w, ColumnMode::Copy)?,
    ])
}

/// One residual block in the pass.
struct BlockPass {
    dense1: Layer,
    dense2: Layer,
    skip: Option<Layer>,
    /// h += the block's columns of time_proj's output.
    add_time: Move,
    /// out += skip(input), or the input itself.
    add_skip: Move,
    /// An up-path block's output is u_l: then [d_l | u_l] is built after it.
    concat: Vec<Move>,
    /// Training, an identity skip: the output gradient is the skip path's input gradient.
    skip_grad: Option<Move>,
    /// Training: h's gradient is the time term's, into the block's columns of time_proj's.
    time_grad: Option<Move>,
    /// Training: dense1's input gradient added to the skip path's, then that sum passed on
    /// to the block (added) or the two blocks (split) the input came from.
    input_grad: Vec<Move>,
}

/// The workspace and bound kernels for running a [`ResNet`] on up to `capacity` rows per
/// copy of a fixed input buffer ([x | Fourier features | cond] rows, copy c's `rows` rows
/// `c × rows` rows in). Copies lie back to back in every buffer, as in [`super::MlpPass`].
pub struct ResNetPass {
    pub capacity: usize,
    /// x, the time features and the state, each split out of the input rows.
    split: Vec<Move>,
    time: Layer,
    cond: Option<Layer>,
    /// [state | time] for the embedding (none without a state).
    join: Vec<Move>,
    embed: [Layer; 2],
    time_proj: Layer,
    blocks: Vec<BlockPass>,
    last: Layer,
    /// Training: the gradient of [state | time] split into its two layers' output gradients.
    unjoin: Vec<Move>,
    /// Training: the last layer's input gradient split into d_0's and u_0's.
    last_split: Vec<Move>,
}

impl ResNetPass {
    /// Binds `net` to `input`. With `train`, the pass keeps what the backward pass needs.
    pub fn new(gpu: &Gpu, net: &ResNet, input: &GpuBuffer, capacity: usize, train: bool) -> Result<Self> {
        let spec = &net.spec;
        let layout = &net.layout;
        let copies = net.copies;
        let width = spec.input_width();
        let needed = copies * capacity * width;
        ensure!(
            input.len >= needed,
            "input buffer '{}' holds {} values, {} rows of {width} need {needed}",
            input.label,
            input.len,
            copies * capacity,
        );
        let ws = Workspace {
            gpu,
            net,
            rows: capacity,
            train,
            scratch: GpuBuffer::zeros(gpu, "resnet unused pre-activation", 1)?,
        };
        let act = spec.activation;
        let (a, f, c) = (spec.x_dim, spec.time_features, spec.cond_dim);

        // The input rows, split.
        let x = ws.zeros("resnet x", a)?;
        let fourier = ws.zeros("resnet time features", f)?;
        let cond_in = ws.zeros("resnet state", c)?;
        let mut split = vec![
            Move::new(gpu, input, (width, 0), &x, (a, 0), a, ColumnMode::Copy)?,
            Move::new(gpu, input, (width, a), &fourier, (f, 0), f, ColumnMode::Copy)?,
        ];
        if c > 0 {
            split.push(Move::new(gpu, input, (width, a + f), &cond_in, (c, 0), c, ColumnMode::Copy)?);
        }

        // The time-and-state embedding.
        let time = ws.layer("resnet time", layout.time, Activation::Identity, &fourier, None, None)?;
        let cond = layout.cond.map(|shape| ws.layer("resnet state encoding", shape, act, &cond_in, None, None));
        let cond = cond.transpose()?;
        let joint_width = layout.embed[0].in_dim;
        let joint = ws.zeros("resnet joint embedding input", joint_width)?;
        let mut join = Vec::new();
        let mut unjoin = Vec::new();
        let d_joint = train.then(|| ws.zeros("resnet joint embedding input gradient", joint_width)).transpose()?;
        if let Some(cond) = &cond {
            let cw = spec.cond_width;
            join.push(Move::new(gpu, &cond.y, (cw, 0), &joint, (joint_width, 0), cw, ColumnMode::Copy)?);
            join.push(Move::new(gpu, &time.y, (f, 0), &joint, (joint_width, cw), f, ColumnMode::Copy)?);
            if let Some(d_joint) = &d_joint {
                unjoin.push(Move::new(gpu, d_joint, (joint_width, 0), cond.dy(), (cw, 0), cw, ColumnMode::Copy)?);
                unjoin.push(Move::new(gpu, d_joint, (joint_width, cw), time.dy(), (f, 0), f, ColumnMode::Copy)?);
            }
        }
        // Without a state, the embedding reads the time layer's output and writes its gradient.
        let (joint_in, joint_dx) =
            if cond.is_some() { (&joint, d_joint.as_ref()) } else { (&time.y, time.dy.as_ref()) };
        let embed0 = ws.layer("resnet embedding 1", layout.embed[0], act, joint_in, joint_dx, None)?;
        let embed1 = ws.layer("resnet embedding 2", layout.embed[1], act, &embed0.y, embed0.dy.as_ref(), None)?;
        let identity = Activation::Identity;
        let time_proj =
            ws.layer("resnet time projection", layout.time_proj, identity, &embed1.y, embed1.dy.as_ref(), None)?;
        let time_width = layout.time_proj.out_dim;

        // The blocks. Level l's concatenation [d_l | u_l] is built after the block that makes
        // u_l, and read by the next block (or the output layer).
        let concat: Vec<GpuBuffer> = (spec.widths.iter().enumerate())
            .map(|(l, &w)| ws.zeros(&format!("resnet level {l} concatenation"), 2 * w))
            .collect::<Result<_>>()?;
        let d_scratch =
            ws.zeros("resnet block input gradient", layout.blocks.iter().map(|b| b.in_dim).max().unwrap_or(1))?;
        let mut blocks: Vec<BlockPass> = Vec::new();
        for (j, shape) in layout.blocks.iter().enumerate() {
            let name = format!("resnet block {j}");
            let input: &GpuBuffer = match shape.input {
                BlockInput::X => &x,
                BlockInput::Block(i) => &blocks[i].dense2.y,
                BlockInput::Concat(level) => &concat[level],
            };
            let d_input = (train && shape.input != BlockInput::X)
                .then(|| ws.zeros(&format!("{name} input gradient"), shape.in_dim))
                .transpose()?;
            let d_dense1 = d_input.as_ref().map(|_| &d_scratch);
            let dense1 = ws.layer(&format!("{name} dense 1"), shape.dense1, act, input, d_dense1, None)?;
            let dense2 =
                ws.layer(&format!("{name} dense 2"), shape.dense2, act, &dense1.y, dense1.dy.as_ref(), None)?;
            let skip = (shape.skip)
                .map(|s| ws.layer(&format!("{name} skip"), s, identity, input, d_input.as_ref(), dense2.dy.as_ref()))
                .transpose()?;
            let o = shape.out_dim;
            let add_time =
                Move::new(gpu, &time_proj.y, (time_width, shape.time_column), &dense1.y, (o, 0), o, ColumnMode::Add)?;
            let skip_src = skip.as_ref().map_or(input, |s| &s.y);
            let add_skip = Move::new(gpu, skip_src, (o, 0), &dense2.y, (o, 0), o, ColumnMode::Add)?;
            let mut concat_moves = Vec::new();
            if j >= layout.levels() {
                let level = layout.blocks.len() - 1 - j;
                let (w, down) = (spec.widths[level], &blocks[level].dense2.y);
                concat_moves.push(Move::new(gpu, down, (w, 0), &concat[level], (2 * w, 0), w, ColumnMode::Copy)?);
                concat_moves.push(Move::new(gpu, &dense2.y, (w, 0), &concat[level], (2 * w, w), w, ColumnMode::Copy)?);
            }

            let (mut skip_grad, mut time_grad, mut input_grad) = (None, None, Vec::new());
            if let Some(d_output) = &dense2.dy {
                let (from, to) = ((o, 0), (time_width, shape.time_column));
                time_grad = Some(Move::new(gpu, dense1.dy(), from, time_proj.dy(), to, o, ColumnMode::Copy)?);
                if let (None, Some(d_input)) = (&skip, &d_input) {
                    skip_grad = Some(Move::new(gpu, d_output, from, d_input, from, o, ColumnMode::Copy)?);
                }
            }
            if let Some(d_input) = &d_input {
                let i = shape.in_dim;
                input_grad.push(Move::new(gpu, &d_scratch, (i, 0), d_input, (i, 0), i, ColumnMode::Add)?);
                match shape.input {
                    BlockInput::X => unreachable!("x has no gradient"),
                    BlockInput::Block(k) => {
                        let to = blocks[k].dense2.dy();
                        input_grad.push(Move::new(gpu, d_input, (i, 0), to, (i, 0), i, ColumnMode::Add)?);
                    }
                    BlockInput::Concat(level) => input_grad.extend(split_concat(gpu, d_input, level, layout, &blocks)?),
                }
            }
            let concat = concat_moves;
            blocks.push(BlockPass {
                dense1,
                dense2,
                skip,
                add_time,
                add_skip,
                concat,
                skip_grad,
                time_grad,
                input_grad,
            });
        }

        // The output layer, and the gradient of its input split back to d_0 and u_0.
        let d_last = train.then(|| ws.zeros("resnet output layer input gradient", 2 * spec.widths[0])).transpose()?;
        let last = ws.layer("resnet output", layout.last, identity, &concat[0], d_last.as_ref(), None)?;
        let last_split = d_last.map(|d| split_concat(gpu, &d, 0, layout, &blocks)).transpose()?.unwrap_or_default();
        Ok(Self {
            capacity,
            split,
            time,
            cond,
            join,
            embed: [embed0, embed1],
            time_proj,
            blocks,
            last,
            unjoin,
            last_split,
        })
    }

    fn check_rows(&self, rows: usize) {
        assert!(rows <= self.capacity, "{rows} rows in a pass built for {}", self.capacity);
    }

    /// The network's output, rows×x_dim (for copies, one such block per copy).
    pub fn output(&self) -> &GpuBuffer {
        &self.last.y
    }

    /// Where a loss writes the gradient of the loss with respect to the output. Only passes
    /// built with `train` have one.
    pub fn output_grad(&self) -> Option<&GpuBuffer> {
        self.last.dy.as_ref()
    }

    /// Records the forward pass over the first `rows` rows of the input.
    pub fn record_forward(&self, rec: &mut Recorder, net: &ResNet, rows: usize) {
        self.check_rows(rows);
        let k = net.copies;
        for m in &self.split {
            m.record(rec, rows, k);
        }
        self.time.record_forward(rec, net, rows);
        if let Some(cond) = &self.cond {
            cond.record_forward(rec, net, rows);
        }
        for m in &self.join {
            m.record(rec, rows, k);
        }
        for layer in self.embed.iter().chain([&self.time_proj]) {
            layer.record_forward(rec, net, rows);
        }
        for block in &self.blocks {
            block.dense1.record_forward(rec, net, rows);
            block.add_time.record(rec, rows, k);
            block.dense2.record_forward(rec, net, rows);
            if let Some(skip) = &block.skip {
                skip.record_forward(rec, net, rows);
            }
            block.add_skip.record(rec, rows, k);
            for m in &block.concat {
                m.record(rec, rows, k);
            }
        }
        self.last.record_forward(rec, net, rows);
    }

    /// Records the backward pass, after the forward pass and after a loss has written
    /// [`Self::output_grad`]. Writes (or, with `accumulate`, adds) the parameter gradients.
    pub fn record_backward(&self, rec: &mut Recorder, net: &ResNet, rows: usize, accumulate: bool) {
        self.check_rows(rows);
        assert!(self.last.backward.is_some(), "this pass was built without training buffers");
        let k = net.copies;
        let moves = |rec: &mut Recorder, list: &[Move]| list.iter().for_each(|m| m.record(rec, rows, k));
        self.last.record_backward(rec, net, rows, accumulate);
        moves(rec, &self.last_split);
        // Blocks in reverse: every consumer of a block's output comes after it, so its output
        // gradient is complete when its turn comes.
        for block in self.blocks.iter().rev() {
            // The skip path first: dense2's backward turns the output gradient into its dZ.
            if let Some(skip) = &block.skip {
                skip.record_backward(rec, net, rows, accumulate);
            }
            moves(rec, block.skip_grad.as_slice());
            block.dense2.record_backward(rec, net, rows, accumulate);
            moves(rec, block.time_grad.as_slice());
            block.dense1.record_backward(rec, net, rows, accumulate);
            moves(rec, &block.input_grad);
        }
        self.time_proj.record_backward(rec, net, rows, accumulate);
        self.embed[1].record_backward(rec, net, rows, accumulate);
        self.embed[0].record_backward(rec, net, rows, accumulate);
        moves(rec, &self.unjoin);
        if let Some(cond) = &self.cond {
            cond.record_backward(rec, net, rows, accumulate);
        }
        self.time.record_backward(rec, net, rows, accumulate);
    }
}
