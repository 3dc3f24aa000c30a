//! Reductions of a buffer range to one number (sum, mean, max, sum of squares) and of each
//! row of a matrix: `shaders/reduce.wgsl`.
//!
//! A range is reduced in at most two dispatches: per-workgroup partial results into a small
//! scratch buffer, then one workgroup over the partials. Ranges of up to
//! [`SINGLE_PASS_LEN`] elements take one dispatch.

use anyhow::{bail, Result};

use crate::gpu::kernel::Source;
use crate::gpu::recorder::grid_1d;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder, WORKGROUP_1D};
use crate::ops::ReduceOp;

const SRC: Source = ("reduce.wgsl", include_str!("../../shaders/reduce.wgsl"));

use Access::{Read, ReadWrite};

/// Partial results of a range (or the result itself). Bindings: source, destination.
pub const REDUCE_RANGE: Kernel = Kernel { sources: &[SRC], entry: "reduce_range", bindings: &[Read, ReadWrite] };
/// One result per row of a matrix. Bindings: source, destination.
pub const REDUCE_ROWS: Kernel = Kernel { entry: "reduce_rows", ..REDUCE_RANGE };

pub const KERNELS: [Kernel; 2] = [REDUCE_RANGE, REDUCE_ROWS];

/// The most workgroups (and so partial results) of the first stage. Enough to fill a large
/// GPU; each invocation loops over as many elements as the range needs beyond that.
pub const MAX_PARTIALS: usize = 256;
/// Elements each invocation folds at least before a second workgroup is worth starting.
const MIN_PER_INVOCATION: usize = 4;
/// The longest range reduced in one dispatch, by a single workgroup.
pub const SINGLE_PASS_LEN: usize = WORKGROUP_1D as usize * MIN_PER_INVOCATION;

/// The immediates of both kernels (`struct Reduction` in shaders/reduce.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    pub len: u32,
    pub rows: u32,
    pub src_off: u32,
    pub dst_off: u32,
    pub square: u32,
    pub use_max: u32,
    pub scale: f32,
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// How the first stage treats each element, and the scale of a final result over `len`.
fn stage_params(op: ReduceOp, len: usize) -> ReduceParams {
    ReduceParams {
        square: (op == ReduceOp::SumOfSquares) as u32,
        use_max: (op == ReduceOp::Max) as u32,
        scale: if op == ReduceOp::Mean { 1.0 / len.max(1) as f32 } else { 1.0 },
        ..Default::default()
    }
}

/// Workgroups of the first stage for a range of `len` elements.
pub fn partial_count(len: usize) -> usize {
    len.div_ceil(SINGLE_PASS_LEN).clamp(1, MAX_PARTIALS)
}

/// Reductions from one input buffer into one output buffer, with their own scratch space.
pub struct Reduce {
    /// input -> output, for ranges one workgroup reduces alone, and for rows.
    direct: Bound,
    rows: Bound,
    /// input -> partials, then partials -> output.
    first: Bound,
    finish: Bound,
    input_len: usize,
    output_len: usize,
}

impl Reduce {
    /// `output` must be another buffer than `input` (one dispatch cannot read a buffer that
    /// it writes through another binding).
    pub fn new(gpu: &Gpu, input: &GpuBuffer, output: &GpuBuffer) -> Result<Self> {
        if input.buffer == output.buffer {
            bail!("a reduction of '{}' needs an output buffer of its own", input.label);
        }
        let partials = GpuBuffer::zeros(gpu, &format!("{} partials", input.label), MAX_PARTIALS)?;
        Ok(Self {
            direct: Bound::new(gpu, &REDUCE_RANGE, &[input, output])?,
            rows: Bound::new(gpu, &REDUCE_ROWS, &[input, output])?,
            first: Bound::new(gpu, &REDUCE_RANGE, &[input, &partials])?,
            finish: Bound::new(gpu, &REDUCE_RANGE, &[&partials, output])?,
            input_len: input.len,
            output_len: output.len,
        })
    }

    /// Records output[dst] = op(input[src_off..src_off + len]).
    pub fn record(&self, rec: &mut Recorder, op: ReduceOp, src_off: usize, len: usize, dst: usize) {
        assert!(
            src_off + len <= self.input_len,
            "reduction of {len} at {src_off} overruns its input of {}",
            self.input_len
        );
        assert!(dst < self.output_len, "reduction result at {dst} is past the end of its output");
        let base = stage_params(op, len);
        let groups = partial_count(len);
        if groups == 1 {
            let params = ReduceParams { len: u(len), src_off: u(src_off), dst_off: u(dst), ..base };
            self.direct.record(rec, &params, [1, 1, 1]);
            return;
        }
        let first = ReduceParams { len: u(len), src_off: u(src_off), dst_off: 0, scale: 1.0, ..base };
        self.first.record(rec, &first, [u(groups), 1, 1]);
        // The partials are already squared: the second stage only adds them (or takes their max).
        let finish = ReduceParams { len: u(groups), src_off: 0, dst_off: u(dst), square: 0, ..base };
        self.finish.record(rec, &finish, [1, 1, 1]);
    }

    /// Records output[dst + b] = op(block b) for `blocks` consecutive blocks of `len` values at
    /// input[src_off..] (one per copy of a network): a single block by [`Self::record`], several
    /// by [`Self::record_rows`] in one dispatch.
    pub fn record_blocks(
        &self,
        rec: &mut Recorder,
        op: ReduceOp,
        src_off: usize,
        blocks: usize,
        len: usize,
        dst: usize,
    ) {
        match blocks {
            1 => self.record(rec, op, src_off, len, dst),
            _ => self.record_rows(rec, op, src_off, blocks, len, dst),
        }
    }

    /// Records output[dst + r] = op(row r of the rows×cols matrix at input[src_off..]).
    pub fn record_rows(&self, rec: &mut Recorder, op: ReduceOp, src_off: usize, rows: usize, cols: usize, dst: usize) {
        assert!(src_off + rows * cols <= self.input_len, "{rows}×{cols} rows at {src_off} overrun their input");
        assert!(dst + rows <= self.output_len, "{rows} row results at {dst} overrun their output");
        if rows == 0 {
            return;
        }
        let params = ReduceParams {
            len: u(cols),
            rows: u(rows),
            src_off: u(src_off),
            dst_off: u(dst),
            ..stage_params(op, cols)
        };
        let groups = grid_1d(rec.gpu(), rows * WORKGROUP_1D as usize, WORKGROUP_1D);
        self.rows.record(rec, &params, groups);
    }
}
