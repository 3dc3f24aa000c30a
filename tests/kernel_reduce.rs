//! Reductions against their f64 CPU twin, on lengths around the workgroup and pass sizes.

mod common;

use common::gpu;
use qipo::kernels::reduce::{partial_count, Reduce, MAX_PARTIALS, SINGLE_PASS_LEN};
use qipo::selftest::reduce::{check_range, check_rows, RangeCase, RowsCase, Tolerance};

/// Empty, tiny, both sides of one workgroup (256), of one dispatch (1024), of the partials
/// buffer being full (256 partials of 1024), and beyond it, where invocations loop.
const LENGTHS: [usize; 13] = [0, 1, 7, 33, 255, 256, 257, 1023, 1024, 1025, 65537, 262_144, 300_007];

/// The f32 result may differ from the exact one by rounding in each addition: allow a small
/// multiple of f32 epsilon times the sum of magnitudes (the scale of those rounding errors).
const ROUNDING: Tolerance = Tolerance::Rounding(1e-6);

#[test]
fn ranges_match_reference() {
    for (seed, &len) in LENGTHS.iter().enumerate() {
        // Values with a nonzero mean, so sums grow with the length and cancel only partly;
        // between guard words, with every result in its own element.
        let case = RangeCase { len, mean: 0.25, guarded: true, seed: seed as u64, tolerance: ROUNDING };
        for check in check_range(gpu(), &case).unwrap() {
            assert!(check.passed, "{case:?} ({} partials): {check}", partial_count(len));
        }
    }
}

#[test]
fn pass_sizes_are_consistent() {
    assert_eq!(partial_count(0), 1);
    assert_eq!(partial_count(SINGLE_PASS_LEN), 1);
    assert_eq!(partial_count(SINGLE_PASS_LEN + 1), 2);
    assert_eq!(partial_count(usize::MAX / 2), MAX_PARTIALS);
    assert!(LENGTHS.iter().any(|&n| n > MAX_PARTIALS * SINGLE_PASS_LEN), "a test length needs looping invocations");
}

#[test]
fn rows_match_reference() {
    // (rows, cols): single elements, odd sizes, rows wider than a workgroup, empty rows.
    let shapes = [(1, 1), (7, 33), (33, 7), (5, 257), (3, 1000), (257, 3), (4, 0)];
    for (case, &(rows, cols)) in shapes.iter().enumerate() {
        let case = RowsCase { rows, cols, seed: 50 + case as u64, tolerance: ROUNDING };
        let check = check_rows(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
    }
}

#[test]
fn sixteen_million_elements() {
    // Just under 2^24 elements (64 MiB, the smallest storage binding qipo accepts), with no
    // guard words: every invocation of the full first stage loops 256 times.
    let len = (1 << 24) - 5;
    let case = RangeCase { len, mean: 0.5, guarded: false, seed: 77, tolerance: ROUNDING };
    for check in check_range(gpu(), &case).unwrap() {
        assert!(check.passed, "{len} elements: {check}");
    }
}

#[test]
fn output_must_be_another_buffer() {
    let gpu = gpu();
    let buf = qipo::gpu::GpuBuffer::zeros(gpu, "x", 8).unwrap();
    assert!(Reduce::new(gpu, &buf, &buf).is_err());
}
