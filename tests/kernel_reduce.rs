//! Reductions against their f64 CPU twin, on lengths around the workgroup and pass sizes.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::reduce::{partial_count, Reduce, MAX_PARTIALS, SINGLE_PASS_LEN};
use qipo::ops::ReduceOp;
use qipo::reference::reduce::{reduce, reduce_rows};

/// Empty, tiny, both sides of one workgroup (256), of one dispatch (1024), of the partials
/// buffer being full (256 partials of 1024), and beyond it, where invocations loop.
const LENGTHS: [usize; 13] = [0, 1, 7, 33, 255, 256, 257, 1023, 1024, 1025, 65537, 262_144, 300_007];

/// The f32 result may differ from the exact one by rounding in each addition: allow a small
/// multiple of f32 epsilon times the sum of magnitudes (the scale of those rounding errors).
fn check(what: &str, got: f32, want: f64, magnitude: f64) {
    if want.is_infinite() {
        assert_eq!(got as f64, want, "{what}");
        return;
    }
    let tol = 1e-6 * magnitude + 1e-30;
    assert!((got as f64 - want).abs() <= tol, "{what}: got {got}, want {want} (tolerance {tol:.2e})");
}

/// The sum of |x| (or x², or the largest |x|) behind each op's rounding errors.
fn magnitude(x: &[f32], op: ReduceOp) -> f64 {
    match op {
        ReduceOp::Sum => reduce(&x.iter().map(|v| v.abs()).collect::<Vec<_>>(), ReduceOp::Sum),
        ReduceOp::Mean => reduce(&x.iter().map(|v| v.abs()).collect::<Vec<_>>(), ReduceOp::Mean),
        ReduceOp::SumOfSquares => reduce(x, ReduceOp::SumOfSquares),
        ReduceOp::Max => 0.0, // exact
    }
}

#[test]
fn ranges_match_reference() {
    let gpu = gpu();
    let mut rec = Recorder::new(gpu);
    let mut cases = Vec::new();
    for (case, &len) in LENGTHS.iter().enumerate() {
        // Values with a nonzero mean, so sums grow with the length and cancel only partly.
        let x: Vec<f32> = random(case as u64, len, 1.0).iter().map(|v| v + 0.25).collect();
        let input = GpuBuffer::from_slice(gpu, "x", &[vec![1e9; 3], x.clone(), vec![1e9; 2]].concat()).unwrap();
        let output = GpuBuffer::from_slice(gpu, "results", &[f32::NAN; 9]).unwrap();
        let op = Reduce::new(gpu, &input, &output).unwrap();
        for (k, reduction) in ReduceOp::ALL.into_iter().enumerate() {
            // Every result into its own element, all through the same scratch buffer.
            op.record(&mut rec, reduction, 3, len, 1 + 2 * k);
        }
        cases.push((len, x, output, op, input));
    }
    rec.submit_and_wait().unwrap();
    for (len, x, output, _, _) in &cases {
        let got: Vec<f32> = output.read(gpu).unwrap();
        for (k, op) in ReduceOp::ALL.into_iter().enumerate() {
            let what = format!("{op:?} of {len} elements ({} partials)", partial_count(*len));
            check(&what, got[1 + 2 * k], reduce(x, op), magnitude(x, op));
        }
        assert!(got.iter().step_by(2).all(|v| v.is_nan()), "{len}: wrote outside the result slots");
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
    let gpu = gpu();
    // (rows, cols): single elements, odd sizes, rows wider than a workgroup, empty rows.
    let shapes = [(1, 1), (7, 33), (33, 7), (5, 257), (3, 1000), (257, 3), (4, 0)];
    let mut rec = Recorder::new(gpu);
    let mut cases = Vec::new();
    for (case, &(rows, cols)) in shapes.iter().enumerate() {
        let x = random(50 + case as u64, rows * cols, 2.0);
        let input = GpuBuffer::from_slice(gpu, "x", &[vec![1e9; 5], x.clone()].concat()).unwrap();
        let output = GpuBuffer::from_slice(gpu, "row results", &vec![f32::NAN; 2 + 4 * rows]).unwrap();
        let op = Reduce::new(gpu, &input, &output).unwrap();
        for (k, reduction) in ReduceOp::ALL.into_iter().enumerate() {
            op.record_rows(&mut rec, reduction, 5, rows, cols, 2 + k * rows);
        }
        cases.push((rows, cols, x, output, op, input));
    }
    rec.submit_and_wait().unwrap();
    for (rows, cols, x, output, _, _) in &cases {
        let got: Vec<f32> = output.read(gpu).unwrap();
        for (k, op) in ReduceOp::ALL.into_iter().enumerate() {
            let want = reduce_rows(x, *rows, *cols, op);
            for r in 0..*rows {
                let row = &x[r * cols..(r + 1) * cols];
                check(
                    &format!("{op:?} of row {r} of {rows}×{cols}"),
                    got[2 + k * rows + r],
                    want[r],
                    magnitude(row, op),
                );
            }
        }
    }
}

#[test]
fn sixteen_million_elements() {
    // Just under 2^24 elements (64 MiB, the smallest storage binding qipo accepts): every
    // invocation of the full first stage loops 256 times.
    let gpu = gpu();
    let len = (1 << 24) - 5;
    let x: Vec<f32> = random(77, len, 1.0).iter().map(|v| v + 0.5).collect();
    let input = GpuBuffer::from_slice(gpu, "x", &x).unwrap();
    let output = GpuBuffer::zeros(gpu, "results", 4).unwrap();
    let op = Reduce::new(gpu, &input, &output).unwrap();
    let mut rec = Recorder::new(gpu);
    for (k, reduction) in ReduceOp::ALL.into_iter().enumerate() {
        op.record(&mut rec, reduction, 0, len, k);
    }
    rec.submit_and_wait().unwrap();
    let got: Vec<f32> = output.read(gpu).unwrap();
    for (k, op) in ReduceOp::ALL.into_iter().enumerate() {
        check(&format!("{op:?} of {len} elements"), got[k], reduce(&x, op), magnitude(&x, op));
    }
}

#[test]
fn output_must_be_another_buffer() {
    let gpu = gpu();
    let buf = GpuBuffer::zeros(gpu, "x", 8).unwrap();
    assert!(Reduce::new(gpu, &buf, &buf).is_err());
}
