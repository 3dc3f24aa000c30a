//! The weighted squared-error kernel against its CPU twin.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::loss::{SquaredError, SquaredErrorParams};
use qipo::reference;

#[test]
fn weighted_squared_error_matches_reference() {
    let gpu = gpu();
    for (rows, cols) in [(1, 1), (7, 3), (33, 1), (257, 6), (300, 17)] {
        for weighted in [false, true] {
            let seed = (rows * 100 + cols) as u64;
            let pred = random(seed, rows * cols, 2.0);
            let target = random(seed + 1, rows * cols, 2.0);
            let weights: Vec<f32> = random(seed + 2, rows, 1.0).iter().map(|w| w.abs()).collect();
            let scale = 1.0 / rows as f32;
            let w = weighted.then_some(weights.as_slice());
            let (loss_ref, grad_ref) = reference::loss::weighted_squared_error(&pred, &target, w, rows, cols, scale);

            let pred_buf = GpuBuffer::from_slice(gpu, "pred", &pred).unwrap();
            let target_buf = GpuBuffer::from_slice(gpu, "target", &[vec![0.0; 3], target].concat()).unwrap();
            let weight_buf = GpuBuffer::from_slice(gpu, "weights", &[vec![0.0; 2], weights.clone()].concat()).unwrap();
            let grad_buf = GpuBuffer::zeros(gpu, "grad", rows * cols).unwrap();
            let loss_buf = GpuBuffer::zeros(gpu, "loss", rows + 1).unwrap();
            let op =
                SquaredError::new(gpu, &pred_buf, &target_buf, weighted.then_some(&weight_buf), &grad_buf, &loss_buf)
                    .unwrap();
            let mut rec = Recorder::new(gpu);
            let params = SquaredErrorParams {
                target_off: 3,
                weight_off: 2,
                loss_off: 1,
                has_weights: weighted as u32,
                scale,
                ..Default::default()
            };
            op.record(&mut rec, rows, cols, params);
            rec.submit_and_wait().unwrap();
            let what = format!("{rows}x{cols} weighted={weighted}");
            assert_close(&format!("{what} loss"), &loss_buf.read::<f32>(gpu).unwrap()[1..], &loss_ref, 1e-5);
            assert_close(&format!("{what} grad"), &grad_buf.read::<f32>(gpu).unwrap(), &grad_ref, 1e-5);
        }
    }
}

#[test]
fn squared_error_gradient_matches_finite_differences() {
    let (rows, cols) = (5, 3);
    let pred = random(1, rows * cols, 1.0);
    let target = random(2, rows * cols, 1.0);
    let weights = [0.5, 1.0, 2.0, 0.0, 3.0];
    let loss = |p: &[f32]| -> f64 {
        let (l, _) = reference::loss::weighted_squared_error(p, &target, Some(&weights), rows, cols, 0.2);
        l.iter().map(|&x| x as f64).sum()
    };
    let (_, grad) = reference::loss::weighted_squared_error(&pred, &target, Some(&weights), rows, cols, 0.2);
    for i in 0..pred.len() {
        let h = 1e-2;
        let (mut up, mut down) = (pred.clone(), pred.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
        assert!((numeric - grad[i] as f64).abs() < 1e-3, "d/dpred[{i}]: {} vs {numeric}", grad[i]);
    }
}
