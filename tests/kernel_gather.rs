//! The minibatch gather against its CPU twin: indices drawn inline exactly as the index fill
//! draws them, one to three tables of odd widths, tables shared by all copies or one per copy,
//! and nothing written past the rows gathered.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::gather::{Gather, GatherTable};
use qipo::kernels::rng::{Distribution, RngFill};
use qipo::random::{streams, RngDraw};
use qipo::reference::gather::{drawn_indices, gather_rows};

/// Compares bit patterns, so no rounding can hide.
fn assert_bits_equal(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}[{i}]: got {g}, want {w}");
    }
}

/// One table of a test: its width, whether each copy has its own, and its source values.
struct Table {
    width: usize,
    per_copy: bool,
    src: Vec<f32>,
}

/// Gathers `copies` minibatches of `rows` rows of `tables` from sources of `n` rows and
/// checks every output against the twin, bit for bit, and that a guard row after the output
/// is left alone.
fn check(tables: &[Table], n: usize, copies: usize, rows: usize, draw: RngDraw) {
    let gpu = gpu();
    let indices = drawn_indices(draw, copies, rows, n as u32);
    let src: Vec<GpuBuffer> = tables.iter().map(|t| GpuBuffer::from_slice(gpu, "src", &t.src).unwrap()).collect();
    // One guard row of -1 after each output.
    let out: Vec<GpuBuffer> = tables
        .iter()
        .map(|t| GpuBuffer::from_slice(gpu, "out", &vec![-1.0f32; (copies * rows + 1) * t.width]).unwrap())
        .collect();
    let bound: Vec<GatherTable> = tables
        .iter()
        .enumerate()
        .map(|(k, t)| GatherTable { src: &src[k], out: &out[k], width: t.width, per_copy: t.per_copy })
        .collect();
    let op = Gather::new(gpu, &bound, n).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, draw, copies, rows);
    rec.submit_and_wait().unwrap();
    for (k, t) in tables.iter().enumerate() {
        let mut want = Vec::new();
        for (r, &i) in indices.iter().enumerate() {
            let own = if t.per_copy { &t.src[r / rows * n * t.width..][..n * t.width] } else { &t.src[..] };
            want.extend(gather_rows(own, t.width, &[i]));
        }
        want.extend(vec![-1.0; t.width]);
        let what = format!("{} tables, {copies}×{rows} rows from {n}: table {k} (width {})", tables.len(), t.width);
        assert_bits_equal(&what, &out[k].read::<f32>(gpu).unwrap(), &want);
    }
}

fn table(seed: u64, width: usize, per_copy: bool, copies: usize, n: usize) -> Table {
    let tables = if per_copy { copies } else { 1 };
    Table { width, per_copy, src: random(seed, tables * n * width, 10.0) }
}

#[test]
fn gather_matches_reference() {
    for (rows, n) in [(1usize, 1usize), (7, 3), (33, 50), (257, 1001)] {
        for widths in [vec![1usize], vec![3, 17], vec![11, 1, 11]] {
            let tables: Vec<Table> =
                widths.iter().enumerate().map(|(k, &w)| table((rows * 10 + k) as u64, w, false, 1, n)).collect();
            check(&tables, n, 1, rows, RngDraw::new(rows as u64, streams::MINIBATCH, 5));
        }
    }
}

#[test]
fn copies_draw_their_own_indices_and_read_their_own_tables() {
    for (copies, rows, n) in [(2usize, 7usize, 13usize), (3, 33, 5), (5, 1, 40)] {
        let tables = [table(1, 5, true, copies, n), table(2, 1, false, copies, n), table(3, 3, true, copies, n)];
        check(&tables, n, copies, rows, RngDraw::new(99, streams::MINIBATCH, copies as u32));
    }
}

/// The indices are those the index fill writes for the same draw, copy by copy: a gather of a
/// table holding 0, 1, 2, ... returns them.
#[test]
fn drawn_indices_are_the_index_fill() {
    let gpu = gpu();
    let (n, copies, rows) = (1000usize, 3usize, 77usize);
    let draw = RngDraw::new(0x1234_5678_9abc, streams::MINIBATCH, 2);
    let ids: Vec<u32> = (0..n as u32).collect();
    let src = GpuBuffer::from_slice(gpu, "row numbers", &ids).unwrap();
    let out = GpuBuffer::zeros(gpu, "gathered", copies * rows).unwrap();
    let op = Gather::new(gpu, &[GatherTable { src: &src, out: &out, width: 1, per_copy: false }], n).unwrap();
    let filled = GpuBuffer::zeros(gpu, "filled", copies * rows).unwrap();
    let fill = RngFill::new(gpu, &filled, Distribution::Index { n: n as u32 }).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, draw, copies, rows);
    fill.record_part(&mut rec, draw, 0, copies, rows, 0);
    rec.submit_and_wait().unwrap();
    let gathered: Vec<u32> = out.read(gpu).unwrap();
    assert_eq!(gathered, filled.read::<u32>(gpu).unwrap());
    assert_eq!(gathered, drawn_indices(draw, copies, rows, n as u32));
}

#[test]
fn tables_too_short_for_their_rows_are_refused() {
    let gpu = gpu();
    let src = GpuBuffer::zeros(gpu, "short table", 9).unwrap();
    let out = GpuBuffer::zeros(gpu, "out", 30).unwrap();
    let err = Gather::new(gpu, &[GatherTable { src: &src, out: &out, width: 3, per_copy: false }], 4).err().unwrap();
    assert!(err.to_string().contains("short table"), "{err}");
}
