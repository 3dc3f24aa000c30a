//! Minibatch rows gathered from up to three tables by indices drawn inline:
//! `shaders/gather_rows.wgsl`.

use anyhow::{ensure, Result};

use super::snippets::RNG;
use crate::gpu::kernel::Source;
use crate::gpu::{Access, Bound, Gpu, GpuBuffer, Kernel, Recorder};
use crate::random::RngDraw;

const SOURCE: Source = ("gather_rows.wgsl", include_str!("../../shaders/gather_rows.wgsl"));

use Access::{Read, ReadWrite};

/// Bindings: each table's source and output in turn. Tables are moved as 32-bit words.
pub const GATHER_ROWS: Kernel = Kernel {
    sources: &[RNG, SOURCE],
    entry: "gather_rows",
    bindings: &[Read, ReadWrite, Read, ReadWrite, Read, ReadWrite],
};

pub const KERNELS: [Kernel; 1] = [GATHER_ROWS];

/// The most tables one dispatch gathers.
pub const MAX_TABLES: usize = 3;

/// The immediates of `gather_rows` (`struct Params` in the shader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    pub draw: RngDraw,
    pub rows: u32,
    pub copy_rows: u32,
    pub n: u32,
    pub widths: [u32; MAX_TABLES],
    pub strides: [u32; MAX_TABLES],
    /// Consecutive copies that draw as one seed (0 or 1: each copy its own seed).
    pub copies_per_seed: u32,
}

fn u(x: usize) -> u32 {
    u32::try_from(x).expect("sizes and offsets fit in u32")
}

/// One table of a gather: `width` values per row, read from `src` into `out` (rows of the
/// minibatch, from element 0). With `per_copy`, `src` holds one table of n rows per copy
/// (seed), back to back, and each copy reads its own.
#[derive(Clone, Copy)]
pub struct GatherTable<'a> {
    pub src: &'a GpuBuffer,
    pub out: &'a GpuBuffer,
    pub width: usize,
    pub per_copy: bool,
}

/// `out_t[r, :] = src_t[index_r, :]` for up to three tables, with index_r drawn uniformly in
/// [0, n) inline: what [`super::rng::RngFill`] with `Distribution::Index { n }` would write.
pub struct Gather {
    bound: Bound,
    n: usize,
    widths: [usize; MAX_TABLES],
    per_copy: [bool; MAX_TABLES],
    src_len: [usize; MAX_TABLES],
    out_len: [usize; MAX_TABLES],
    copies_per_seed: usize,
}

impl Gather {
    /// Binds 1 to 3 tables whose sources hold (per copy, for `per_copy` ones) `n` rows.
    pub fn new(gpu: &Gpu, tables: &[GatherTable], n: usize) -> Result<Self> {
        ensure!(!tables.is_empty() && tables.len() <= MAX_TABLES, "a gather takes 1 to {MAX_TABLES} tables");
        ensure!(n > 0 && u32::try_from(n).is_ok(), "a gather needs between 1 and {} source rows, not {n}", u32::MAX);
        for t in tables {
            ensure!(
                t.src.len >= n * t.width,
                "table '{}' holds {} values, not {n} rows of {}",
                t.src.label,
                t.src.len,
                t.width
            );
        }
        // Unused slots repeat the first table with width 0: bound, never touched.
        let slot = |k: usize| tables.get(k).copied().map_or((tables[0], 0), |t| (t, t.width));
        let slots = [slot(0), slot(1), slot(2)];
        let buffers: Vec<&GpuBuffer> = slots.iter().flat_map(|(t, _)| [t.src, t.out]).collect();
        Ok(Self {
            bound: Bound::new(gpu, &GATHER_ROWS, &buffers)?,
            n,
            widths: slots.map(|(_, w)| w),
            per_copy: slots.map(|(t, w)| w > 0 && t.per_copy),
            src_len: slots.map(|(t, _)| t.src.len),
            out_len: slots.map(|(t, _)| t.out.len),
            copies_per_seed: 1,
        })
    }

    /// The gather for copies of which each seed trains `copies_per_seed` consecutive ones (a
    /// grid of settings per seed): those draw their seed's indices, each from its own tables.
    pub fn with_copies_per_seed(self, copies_per_seed: usize) -> Self {
        Self { copies_per_seed: copies_per_seed.max(1), ..self }
    }

    /// Records the gather of `copies` minibatches of `copy_rows` rows, copy c's indices drawn
    /// as a run with `draw`'s seed + c would draw them.
    pub fn record(&self, rec: &mut Recorder, draw: RngDraw, copies: usize, copy_rows: usize) {
        let rows = copies * copy_rows;
        let strides: [u32; MAX_TABLES] = std::array::from_fn(|k| {
            let (width, table) = (self.widths[k], self.n * self.widths[k]);
            assert!(rows * width <= self.out_len[k], "gather of {rows}×{width} overruns its output");
            if !self.per_copy[k] {
                return 0;
            }
            assert!(copies * table <= self.src_len[k], "{copies} tables of {table} overrun their source");
            u(table)
        });
        let count = rows * self.widths.iter().sum::<usize>();
        assert!(u32::try_from(count).is_ok(), "a gather of {count} values exceeds the u32 element index");
        if count == 0 {
            return;
        }
        let params = GatherParams {
            draw,
            rows: u(rows),
            copy_rows: if copies > 1 { u(copy_rows) } else { 0 },
            n: u(self.n),
            widths: self.widths.map(u),
            strides,
            copies_per_seed: u(self.copies_per_seed),
        };
        self.bound.record_1d(rec, &params, count);
    }
}
