//! The minibatch gather (`shaders/gather_rows.wgsl`) against its CPU twin: indices drawn
//! inline, up to three tables, shared by all copies or one per copy.

use anyhow::Result;

use super::{bits, values, Check};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::gather::{Gather, GatherTable, GATHER_ROWS};
use crate::random::RngDraw;
use crate::reference::gather::{drawn_indices, gather_rows};

/// One table: its width, and whether each copy has its own.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub width: usize,
    pub per_copy: bool,
}

/// `copies` minibatches of `rows` rows from tables of `n` rows.
#[derive(Debug, Clone)]
pub struct Case {
    pub tables: Vec<Table>,
    pub n: usize,
    pub copies: usize,
    pub rows: usize,
    pub draw: RngDraw,
    /// Table k holds values in [-10, 10) drawn from seed `seed + k`.
    pub seed: u64,
}

/// Every output bit for bit (rows are moved as words), and a guard row of -1 after each
/// output, which must be left alone.
pub fn check(gpu: &Gpu, case: &Case) -> Result<Check> {
    let Case { ref tables, n, copies, rows, draw, seed } = *case;
    let indices = drawn_indices(draw, copies, rows, n as u32);
    let sources: Vec<Vec<f32>> = (tables.iter().enumerate())
        .map(|(k, t)| {
            let count = if t.per_copy { copies } else { 1 };
            values(seed + k as u64, count * n * t.width, 10.0)
        })
        .collect();
    let src: Vec<GpuBuffer> = sources.iter().map(|s| GpuBuffer::from_slice(gpu, "table", s)).collect::<Result<_>>()?;
    let out: Vec<GpuBuffer> = (tables.iter())
        .map(|t| GpuBuffer::from_slice(gpu, "rows", &vec![-1.0f32; (copies * rows + 1) * t.width]))
        .collect::<Result<_>>()?;
    let bound: Vec<GatherTable> = (tables.iter().enumerate())
        .map(|(k, t)| GatherTable { src: &src[k], out: &out[k], width: t.width, per_copy: t.per_copy })
        .collect();
    let op = Gather::new(gpu, &bound, n)?;
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, draw, copies, rows);
    rec.submit_and_wait()?;
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for ((t, src), out) in tables.iter().zip(&sources).zip(&out) {
        got.extend(out.read::<f32>(gpu)?);
        for (r, &i) in indices.iter().enumerate() {
            let own = if t.per_copy { &src[r / rows * n * t.width..][..n * t.width] } else { &src[..] };
            want.extend(gather_rows(own, t.width, &[i]));
        }
        want.extend(vec![-1.0; t.width]);
    }
    let count = ["no tables", "one table", "two tables", "three tables"].get(tables.len()).copied().unwrap_or("tables");
    let name = format!("gather rows of {count}, indices drawn inline");
    Ok(Check::exact(&name, &[GATHER_ROWS], &bits(&got), &bits(&want)))
}
