//! Column-block copies and sums against their CPU twin.

mod common;

use common::{gpu, random};
use qipo::gpu::GpuBuffer;
use qipo::kernels::columns::Columns;
use qipo::ops::ColumnMode as Mode;
use qipo::reference;
use qipo::selftest::columns::{check, Case};

#[test]
fn columns_match_reference() {
    // (rows, width, source width and first column, destination width and first column,
    // copies): a slice out, a slice in, a whole matrix, odd sizes, several seeds.
    for (rows, width, src, dst, copies) in [
        (1, 1, (1, 0), (1, 0), 1),
        (7, 3, (11, 5), (3, 0), 1),
        (33, 5, (5, 0), (13, 8), 2),
        (257, 17, (17, 0), (17, 0), 3),
        (65, 9, (20, 11), (31, 1), 4),
    ] {
        for mode in [Mode::Copy, Mode::Add] {
            let case = Case { rows, width, src, dst, mode, copies, seed: rows as u64 };
            let check = check(gpu(), &case).unwrap();
            assert!(check.passed, "{case:?}: {check}");
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
