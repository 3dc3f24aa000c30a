//! The minibatch gather against its CPU twin: indices drawn inline exactly as the index fill
//! draws them, one to three tables of odd widths, tables shared by all copies or one per copy,
//! and nothing written past the rows gathered.

mod common;

use common::gpu;
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::gather::{Gather, GatherTable};
use qipo::kernels::rng::{Distribution, RngFill};
use qipo::random::{streams, RngDraw};
use qipo::reference::gather::drawn_indices;
use qipo::selftest::gather::{check, Case, Table};

/// Gathers `copies` minibatches of `rows` rows of `tables` (widths, and whether each copy
/// has its own) from tables of `n` rows, bit for bit, with a guard row after each output.
fn assert_gathers(tables: &[(usize, bool)], n: usize, copies: usize, rows: usize, draw: RngDraw, seed: u64) {
    let tables = tables.iter().map(|&(width, per_copy)| Table { width, per_copy }).collect();
    let case = Case { tables, n, copies, rows, draw, seed };
    let check = check(gpu(), &case).unwrap();
    assert!(check.passed, "{case:?}: {check}");
}

#[test]
fn gather_matches_reference() {
    for (rows, n) in [(1usize, 1usize), (7, 3), (33, 50), (257, 1001)] {
        for widths in [vec![1usize], vec![3, 17], vec![11, 1, 11]] {
            let tables: Vec<(usize, bool)> = widths.iter().map(|&w| (w, false)).collect();
            assert_gathers(&tables, n, 1, rows, RngDraw::new(rows as u64, streams::MINIBATCH, 5), rows as u64 * 10);
        }
    }
}

#[test]
fn copies_draw_their_own_indices_and_read_their_own_tables() {
    for (copies, rows, n) in [(2usize, 7usize, 13usize), (3, 33, 5), (5, 1, 40)] {
        let tables = [(5, true), (1, false), (3, true)];
        assert_gathers(&tables, n, copies, rows, RngDraw::new(99, streams::MINIBATCH, copies as u32), 1);
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

/// A grid of settings per seed: consecutive copies of one seed draw that seed's indices, each
/// still reading its own table.
#[test]
fn copies_of_one_seed_draw_that_seeds_indices() {
    let gpu = gpu();
    let (n, copies, per_seed, rows) = (50usize, 4usize, 2usize, 9usize);
    let draw = RngDraw::new(0xFFFF_FFFF, streams::MINIBATCH, 3);
    // Copy c's table holds n rows of the value 1000·c + row.
    let tables: Vec<u32> = (0..copies as u32).flat_map(|c| (0..n as u32).map(move |r| 1000 * c + r)).collect();
    let src = GpuBuffer::from_slice(gpu, "tables", &tables).unwrap();
    let out = GpuBuffer::zeros(gpu, "gathered", copies * rows).unwrap();
    let table = GatherTable { src: &src, out: &out, width: 1, per_copy: true };
    let op = Gather::new(gpu, &[table], n).unwrap().with_copies_per_seed(per_seed);
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, draw, copies, rows);
    rec.submit_and_wait().unwrap();
    let gathered: Vec<u32> = out.read(gpu).unwrap();
    for c in 0..copies {
        let seed_draw = draw.for_seed_copy(c as u32, per_seed as u32);
        let want: Vec<u32> =
            qipo::reference::rng::fill_indices(seed_draw, rows, n as u32).iter().map(|i| 1000 * c as u32 + i).collect();
        assert_eq!(gathered[c * rows..][..rows], want[..], "copy {c}");
    }
}
