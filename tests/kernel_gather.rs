//! The row gather against its CPU twin: odd sizes, offsets, repeated indices, the last row,
//! and an index past the table.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::gather::{Gather, GatherParams};
use qipo::reference::gather::{gather_rows, BAD_INDEX_VALUE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Compares bit patterns, so NaN rows compare equal and no rounding can hide.
fn assert_bits_equal(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}[{i}]: got {g}, want {w}");
    }
}

/// `rows` indices into a table of `src_rows` rows: random ones, with the first and last row
/// and a repeated index always among them.
fn indices_covering_the_ends(seed: u64, rows: usize, src_rows: usize) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut indices: Vec<u32> = (0..rows).map(|_| rng.random_range(0..src_rows as u32)).collect();
    let last = src_rows as u32 - 1;
    let fixed = [last, 0, last];
    for (slot, value) in indices.iter_mut().rev().zip(fixed) {
        *slot = value;
    }
    indices
}

#[test]
fn gather_matches_reference() {
    // Offsets in every buffer, so a kernel ignoring one reads or writes the wrong place.
    let (index_off, src_off, out_off) = (3usize, 5usize, 2usize);
    for rows in [1usize, 7, 33, 257] {
        for width in [1usize, 3, 17] {
            let src_rows = rows + 4;
            let table = random((rows * 100 + width) as u64, src_rows * width, 10.0);
            let indices = indices_covering_the_ends(rows as u64, rows, src_rows);
            let want = gather_rows(&table, width, &indices);

            let (op, out_buf) = gather_with_offsets(&indices, &table, width, rows, (index_off, src_off, out_off));
            let params = GatherParams {
                rows: rows as u32,
                width: width as u32,
                src_rows: src_rows as u32,
                index_off: index_off as u32,
                src_off: src_off as u32,
                out_off: out_off as u32,
                copy_rows: 0,
            };
            record_and_check(&op, &out_buf, params, &want, &format!("gather {rows}x{width}"));
        }
    }
}

/// A gather bound to `indices` and `table` placed at offsets (index, source, output) in
/// their buffers, the table followed by a guard row of -1 (a gather reading past the table
/// would copy it), and its zeroed output buffer of `rows` rows.
fn gather_with_offsets(
    indices: &[u32],
    table: &[f32],
    width: usize,
    rows: usize,
    (index_off, src_off, out_off): (usize, usize, usize),
) -> (Gather, GpuBuffer) {
    let gpu = gpu();
    let index_buf = GpuBuffer::from_slice(gpu, "indices", &[vec![7u32; index_off], indices.to_vec()].concat()).unwrap();
    let padded = [vec![0.0; src_off], table.to_vec(), vec![-1.0; width]].concat();
    let src_buf = GpuBuffer::from_slice(gpu, "src", &padded).unwrap();
    let out_buf = GpuBuffer::zeros(gpu, "out", out_off + rows * width + 1).unwrap();
    (Gather::new(gpu, &index_buf, &src_buf, &out_buf).unwrap(), out_buf)
}

/// Records the gather of `params` and checks its output rows against `want`, bit for bit, and
/// that the rest of the output (zeros) is left alone.
fn record_and_check(op: &Gather, out_buf: &GpuBuffer, params: GatherParams, want: &[f32], what: &str) {
    let gpu = gpu();
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, params);
    rec.submit_and_wait().unwrap();
    let out: Vec<f32> = out_buf.read(gpu).unwrap();
    let (start, end) = (params.out_off as usize, (params.out_off + params.rows * params.width) as usize);
    assert_bits_equal(what, &out[start..end], want);
    let untouched = [&out[..start], &out[end..]].concat();
    assert!(untouched.iter().all(|&v| v == 0.0), "{what}: wrote outside its output rows");
}

#[test]
fn gather_without_offsets_uses_whole_buffers() {
    let gpu = gpu();
    let (src_rows, width) = (5usize, 3usize);
    let table = random(9, src_rows * width, 1.0);
    let indices = [4u32, 4, 0, 2];
    let index_buf = GpuBuffer::from_slice(gpu, "indices", &indices).unwrap();
    let src_buf = GpuBuffer::from_slice(gpu, "src", &table).unwrap();
    let out_buf = GpuBuffer::zeros(gpu, "out", indices.len() * width).unwrap();
    let op = Gather::new(gpu, &index_buf, &src_buf, &out_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, indices.len(), width);
    rec.submit_and_wait().unwrap();
    assert_bits_equal("gather", &out_buf.read::<f32>(gpu).unwrap(), &gather_rows(&table, width, &indices));
}

#[test]
fn index_past_the_table_gives_nan_rows() {
    let gpu = gpu();
    let (src_rows, width) = (4usize, 3usize);
    let table = random(11, src_rows * width, 1.0);
    let indices = [1u32, 4, u32::MAX, 3];
    let want = gather_rows(&table, width, &indices);
    assert!(want[width..3 * width].iter().all(|v| v.to_bits() == BAD_INDEX_VALUE && v.is_nan()));
    assert_eq!(&want[3 * width..], &table[3 * width..], "the last row is still valid");

    let index_buf = GpuBuffer::from_slice(gpu, "indices", &indices).unwrap();
    // The buffer holds a row more than the table given to the kernel: index 4 must not reach it.
    let src_buf = GpuBuffer::from_slice(gpu, "src", &[table, vec![5.0; width]].concat()).unwrap();
    let out_buf = GpuBuffer::zeros(gpu, "out", indices.len() * width).unwrap();
    let op = Gather::new(gpu, &index_buf, &src_buf, &out_buf).unwrap();
    let params = GatherParams { rows: 4, width: width as u32, src_rows: src_rows as u32, ..Default::default() };
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, params);
    rec.submit_and_wait().unwrap();
    assert_bits_equal("bad indices", &out_buf.read::<f32>(gpu).unwrap(), &want);
}

/// `copies` tables of `src_rows` rows back to back, and `copy_rows` indices into each, with
/// one index per copy past its table (at the table's end, just past it, and far past it).
fn copy_tables_and_indices(copies: usize, copy_rows: usize, src_rows: usize, width: usize) -> (Vec<f32>, Vec<u32>) {
    let tables = random(31, copies * src_rows * width, 10.0);
    let bad = [src_rows as u32, src_rows as u32 + 1, u32::MAX];
    let indices = (0..copies)
        .flat_map(|c| {
            let mut own = indices_covering_the_ends(40 + c as u64, copy_rows, src_rows);
            own[1 + c % (copy_rows - 1)] = bad[c % bad.len()];
            own
        })
        .collect();
    (tables, indices)
}

/// The CPU twin of a gather over copies: copy c's rows from table c.
fn gather_copies(tables: &[f32], indices: &[u32], copies: usize, copy_rows: usize, width: usize) -> Vec<f32> {
    let table_len = tables.len() / copies;
    (0..copies)
        .flat_map(|c| gather_rows(&tables[c * table_len..][..table_len], width, &indices[c * copy_rows..][..copy_rows]))
        .collect()
}

#[test]
fn gather_copies_read_their_own_tables() {
    let gpu = gpu();
    let (copies, copy_rows, width, src_rows) = (3usize, 7usize, 5usize, 11usize);
    let rows = copies * copy_rows;
    let (tables, indices) = copy_tables_and_indices(copies, copy_rows, src_rows, width);
    let want = gather_copies(&tables, &indices, copies, copy_rows, width);
    for c in 0..copies {
        let bad_rows = want[c * copy_rows * width..][..copy_rows * width]
            .chunks(width)
            .filter(|row| row.iter().all(|v| v.to_bits() == BAD_INDEX_VALUE))
            .count();
        assert_eq!(bad_rows, 1, "copy {c}: one index past its table");
    }

    // Whole buffers: record_copies finds the tables' size from the source's.
    let index_buf = GpuBuffer::from_slice(gpu, "indices", &indices).unwrap();
    let src_buf = GpuBuffer::from_slice(gpu, "src", &tables).unwrap();
    let out_buf = GpuBuffer::zeros(gpu, "out", rows * width).unwrap();
    let op = Gather::new(gpu, &index_buf, &src_buf, &out_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record_copies(&mut rec, copies, copy_rows, width);
    rec.submit_and_wait().unwrap();
    let out: Vec<f32> = out_buf.read(gpu).unwrap();
    assert_bits_equal(&format!("gather copies {copies}×{copy_rows}x{width}"), &out, &want);

    // Offsets in every buffer, and a guard row after the last table.
    let (index_off, src_off, out_off) = (3usize, 5usize, 2usize);
    let (op, out_buf) = gather_with_offsets(&indices, &tables, width, rows, (index_off, src_off, out_off));
    let params = GatherParams {
        rows: rows as u32,
        width: width as u32,
        src_rows: src_rows as u32,
        index_off: index_off as u32,
        src_off: src_off as u32,
        out_off: out_off as u32,
        copy_rows: copy_rows as u32,
    };
    record_and_check(&op, &out_buf, params, &want, &format!("gather copies {copies}×{copy_rows}x{width} with offsets"));
}

#[test]
fn gather_one_copy_is_a_plain_gather() {
    let gpu = gpu();
    let (src_rows, width, rows) = (11usize, 5usize, 7usize);
    let (table, indices) = copy_tables_and_indices(1, rows, src_rows, width);
    let index_buf = GpuBuffer::from_slice(gpu, "indices", &indices).unwrap();
    let src_buf = GpuBuffer::from_slice(gpu, "src", &table).unwrap();
    let out_buf = GpuBuffer::zeros(gpu, "out", 2 * rows * width).unwrap();
    let op = Gather::new(gpu, &index_buf, &src_buf, &out_buf).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record_copies(&mut rec, 1, rows, width);
    rec.submit_and_wait().unwrap();
    let out: Vec<f32> = out_buf.read(gpu).unwrap();
    assert_bits_equal("gather one copy", &out[..rows * width], &gather_rows(&table, width, &indices));
    assert!(out[rows * width..].iter().all(|&v| v == 0.0), "gather one copy: wrote past its rows");
}
