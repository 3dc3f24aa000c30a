//! The time embedding and input concatenation against its CPU twin, on odd shapes.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::time_embedding::{
    fourier_frequencies, EmbeddingCopies, EmbeddingOffsets, EmbeddingShape, TimeEmbedding, DEFAULT_FEATURES,
    DEFAULT_SCALE,
};
use qipo::reference::time_embedding::{embed, fourier_feature};
use qipo::selftest::time_embedding::{check, feature_tolerance, Case, Tolerance};

/// (rows, x_dim, features, cond_dim, repeat): odd sizes, repeats that do and do not divide the
/// rows, and each part of zero width in turn.
const SHAPES: [(usize, usize, usize, usize, usize); 8] = [
    (1, 1, 2, 1, 1),
    (7, 3, 32, 0, 1),
    (33, 0, 32, 17, 1),
    (257, 6, 32, 17, 17),
    (40, 2, 0, 5, 3),
    (13, 0, 6, 0, 4),
    (9, 5, 10, 11, 9),
    (65, 7, 64, 3, 33),
];

#[test]
fn embedding_matches_reference() {
    for (case, &(rows, x_dim, features, cond_dim, repeat)) in SHAPES.iter().enumerate() {
        // Every buffer at its own offset checks each one's addressing.
        let seed = 100 * case as u64;
        let case = Case { rows, x_dim, features, cond_dim, repeat, seed, tolerance: Tolerance::Features };
        let check = check(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
    }
}

#[test]
fn features_are_accurate() {
    // The reduction to [-1/2, 1/2] turns keeps the f32 features within the error that
    // rounding t·w to f32 already makes, even for frequencies far out in the tails.
    let w = fourier_frequencies(9, 2000, DEFAULT_SCALE).unwrap();
    let t = random(10, 2000, 0.5);
    for (&f, &t) in w.iter().zip(&t) {
        let t = t + 0.5;
        let exact = std::f64::consts::TAU * t as f64 * f as f64;
        let tol = feature_tolerance(t, f) as f64;
        for (use_sin, want) in [(true, exact.sin()), (false, exact.cos())] {
            let got = fourier_feature(t, f, use_sin) as f64;
            assert!((got - want).abs() <= tol, "t = {t}, w = {f}, sin = {use_sin}: {got} vs {want}");
        }
    }
}

#[test]
fn frequencies_are_seeded_normals() {
    let w = fourier_frequencies(1, 20_000, DEFAULT_SCALE).unwrap();
    assert_eq!(w, fourier_frequencies(1, 20_000, DEFAULT_SCALE).unwrap(), "same seed, same frequencies");
    assert_ne!(w[..16], fourier_frequencies(2, 16, DEFAULT_SCALE).unwrap()[..], "another seed, other frequencies");
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    // Standard errors: 30 / sqrt(n) = 0.21 for the mean, 30 / sqrt(2n) = 0.15 for the std.
    assert!(mean.abs() < 1.1, "mean {mean}");
    assert!((std - 30.0).abs() < 0.8, "std {std}");
    assert_eq!(DEFAULT_FEATURES % 2, 0);
}

#[test]
fn bad_configurations_are_errors() {
    assert!(EmbeddingShape::new(2, 31, 3, 1).is_err(), "odd feature count");
    assert!(EmbeddingShape::new(2, 32, 3, 0).is_err(), "repeat 0");
    for scale in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(fourier_frequencies(0, 4, scale).is_err(), "scale {scale}");
    }
    let shape = EmbeddingShape::new(3, DEFAULT_FEATURES, 17, 5).unwrap();
    assert_eq!((shape.width(), shape.cond_rows(11)), (52, 3));
}

#[test]
fn copies_embed_with_their_own_frequencies_and_states() {
    // Three copies of 7 rows, repeat 2 (4 conditioning rows per copy), each with its own
    // frequencies; conditioning rows shared or per copy. Each copy's rows must be the CPU
    // twin's embedding of that copy alone.
    let gpu = gpu();
    let (copies, rows, x_dim, features, cond_dim, repeat) = (3, 7, 3, 10, 5, 2);
    let shape = EmbeddingShape::new(x_dim, features, cond_dim, repeat).unwrap();
    let cond_rows = shape.cond_rows(rows);
    let x = random(200, copies * rows * x_dim, 2.0);
    let t: Vec<f32> = random(201, copies * rows, 0.5).iter().map(|v| v + 0.5).collect();
    let w: Vec<f32> = (0..copies)
        .flat_map(|c| fourier_frequencies(202 + c as u64, shape.frequencies, DEFAULT_SCALE).unwrap())
        .collect();
    for shared in [true, false] {
        let cond = random(203, if shared { 1 } else { copies } * cond_rows * cond_dim, 1.0);
        let buf = |label: &str, v: &[f32]| GpuBuffer::from_slice(gpu, label, v).unwrap();
        let (x_buf, t_buf, w_buf, cond_buf) = (buf("x", &x), buf("t", &t), buf("w", &w), buf("cond", &cond));
        let out = GpuBuffer::zeros(gpu, "out", copies * rows * shape.width()).unwrap();
        let op = TimeEmbedding::new(gpu, &x_buf, &t_buf, &w_buf, &cond_buf, &out).unwrap();
        let layout =
            EmbeddingCopies { rows, w_stride: shape.frequencies, cond_rows: if shared { 0 } else { cond_rows } };
        let mut rec = Recorder::new(gpu);
        op.record_copies(&mut rec, &shape, copies * rows, EmbeddingOffsets::default(), layout);
        rec.submit_and_wait().unwrap();
        let got: Vec<f32> = out.read(gpu).unwrap();
        for c in 0..copies {
            let part = |v: &[f32], width: usize, n: usize| v[c * n * width..(c + 1) * n * width].to_vec();
            let cond_c = if shared { cond.clone() } else { part(&cond, cond_dim, cond_rows) };
            let w_c = part(&w, 1, shape.frequencies);
            let want = embed(&part(&x, x_dim, rows), &part(&t, 1, rows), &w_c, &cond_c, x_dim, cond_dim, repeat);
            let got_c = part(&got, shape.width(), rows);
            for (i, (&g, &e)) in got_c.iter().zip(&want).enumerate() {
                let (row, col) = (i / shape.width(), i % shape.width());
                let tol = if (x_dim..x_dim + shape.features()).contains(&col) {
                    feature_tolerance(t[c * rows + row], w_c[(col - x_dim) % shape.frequencies])
                } else {
                    0.0
                };
                assert!((g - e).abs() <= tol, "copy {c} (shared states: {shared}) [{row}, {col}] = {g}, want {e}");
            }
        }
    }
}
