//! Column-block copies and sums against their CPU twin.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::columns::Columns;
use qipo::ops::{ColumnMode as Mode, ColumnView};
use qipo::reference;

#[test]
fn columns_match_reference() {
    let gpu = gpu();
    // (rows, width, source width and first column, destination width and first column,
    // copies): a slice out, a slice in, a whole matrix, odd sizes, several seeds.
    for (rows, width, (src_w, src_first), (dst_w, dst_first), copies) in [
        (1, 1, (1, 0), (1, 0), 1),
        (7, 3, (11, 5), (3, 0), 1),
        (33, 5, (5, 0), (13, 8), 2),
        (257, 17, (17, 0), (17, 0), 3),
        (65, 9, (20, 11), (31, 1), 4),
    ] {
        for mode in [Mode::Copy, Mode::Add] {
            let src_view = ColumnView { offset: 2 + src_first, ..ColumnView::of(src_w, 0, rows) };
            let dst_view = ColumnView { offset: 3 + dst_first, ..ColumnView::of(dst_w, 0, rows) };
            let src = random(rows as u64, 2 + copies * rows * src_w, 1.0);
            let before = random(rows as u64 + 1, 3 + copies * rows * dst_w + 1, 1.0);
            let mut want = before.clone();
            reference::columns::columns(&src, &mut want, rows, width, src_view, dst_view, mode, copies);
            assert_ne!(want, before, "the case moves something");
            let s = GpuBuffer::from_slice(gpu, "src", &src).unwrap();
            let d = GpuBuffer::from_slice(gpu, "dst", &before).unwrap();
            let mut rec = Recorder::new(gpu);
            Columns::new(gpu, &s, &d).unwrap().record(&mut rec, rows, width, src_view, dst_view, mode, copies);
            rec.submit_and_wait().unwrap();
            assert_eq!(d.read::<f32>(gpu).unwrap(), want, "{rows}×{width}, {mode:?}, {copies} copies");
        }
    }
}

#[test]
fn a_block_cannot_move_within_one_buffer() {
    let gpu = gpu();
    let b = GpuBuffer::zeros(gpu, "one", 8).unwrap();
    let err = Columns::new(gpu, &b, &b).err().expect("rejected").to_string();
    assert!(err.contains("'one'"), "{err}");
}

#[test]
fn concat_and_slice_invert_each_other() {
    let (a, b) = (random(1, 3 * 2, 1.0), random(2, 3 * 5, 1.0));
    let ab = reference::columns::concat(&a, &b, 3);
    assert_eq!(reference::columns::slice(&ab, 3, 7, 0, 2), a);
    assert_eq!(reference::columns::slice(&ab, 3, 7, 2, 5), b);
}
