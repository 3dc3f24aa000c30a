//! The linear layer kernels against their CPU twin, on random inputs of odd sizes.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::linear::{BackwardOffsets, LayerShape, LinearBackward, LinearForward};
use qipo::nn::Activation;
use qipo::reference;

/// (rows, in, out): the odd sizes the issue asks for, and both sides of the 64-wide tiles.
const SHAPES: [(usize, usize, usize); 6] =
    [(1, 1, 1), (7, 33, 5), (33, 7, 257), (257, 17, 33), (1, 257, 7), (65, 64, 63)];

/// Parameters laid out like an MLP's flat buffer: some padding, then W, then b.
fn layer(in_dim: usize, out_dim: usize) -> LayerShape {
    LayerShape { in_dim, out_dim, weight_off: 3, bias_off: 3 + in_dim * out_dim }
}

#[test]
fn forward_matches_reference() {
    let gpu = gpu();
    for (case, &(rows, in_dim, out_dim)) in SHAPES.iter().enumerate() {
        for act in Activation::ALL {
            let seed = 10 * case as u64 + act.code() as u64;
            let shape = layer(in_dim, out_dim);
            let x = random(seed, rows * in_dim, 2.0);
            let params = random(seed + 1000, shape.bias_off + out_dim, 0.5);
            let w = &params[shape.weight_off..shape.bias_off];
            let b = &params[shape.bias_off..];
            let (z_ref, y_ref) = reference::linear::forward(&x, w, b, rows, in_dim, out_dim, act);

            // Offsets inside the input and output buffers check the strided addressing.
            let x_buf = GpuBuffer::from_slice(gpu, "x", &[vec![9.0; 5], x].concat()).unwrap();
            let p_buf = GpuBuffer::from_slice(gpu, "params", &params).unwrap();
            let y_buf = GpuBuffer::zeros(gpu, "y", 2 + rows * out_dim).unwrap();
            let z_buf = GpuBuffer::zeros(gpu, "z", 1 + rows * out_dim).unwrap();
            let op = LinearForward::new(gpu, &x_buf, &p_buf, &y_buf, &z_buf).unwrap();
            let mut rec = Recorder::new(gpu);
            op.record(&mut rec, &shape, act, rows, 5, 2, Some(1));
            rec.submit_and_wait().unwrap();
            let what = format!("forward {rows}x{in_dim}->{out_dim} {act:?}");
            assert_close(&format!("{what} y"), &y_buf.read::<f32>(gpu).unwrap()[2..], &y_ref, 1e-5);
            assert_close(&format!("{what} z"), &z_buf.read::<f32>(gpu).unwrap()[1..], &z_ref, 1e-5);
        }
    }
}

#[test]
fn backward_matches_reference() {
    let gpu = gpu();
    for (case, &(rows, in_dim, out_dim)) in SHAPES.iter().enumerate() {
        for act in Activation::ALL {
            for accumulate in [false, true] {
                let seed = 100 * case as u64 + act.code() as u64;
                let shape = layer(in_dim, out_dim);
                let x = random(seed, rows * in_dim, 2.0);
                let params = random(seed + 1, shape.bias_off + out_dim, 0.5);
                let z = random(seed + 2, rows * out_dim, 3.0);
                let dy = random(seed + 3, rows * out_dim, 1.0);
                let w = &params[shape.weight_off..shape.bias_off];
                let want = reference::linear::backward(&x, w, &z, &dy, rows, in_dim, out_dim, act);

                let old_grads = random(seed + 4, params.len(), 1.0);
                let x_buf = GpuBuffer::from_slice(gpu, "x", &x).unwrap();
                let z_buf = GpuBuffer::from_slice(gpu, "z", &[vec![0.0; 4], z].concat()).unwrap();
                let p_buf = GpuBuffer::from_slice(gpu, "params", &params).unwrap();
                let dy_buf = GpuBuffer::from_slice(gpu, "dy", &[vec![0.0; 6], dy].concat()).unwrap();
                let g_buf = GpuBuffer::from_slice(gpu, "grads", &old_grads).unwrap();
                let dx_buf = GpuBuffer::zeros(gpu, "dx", 1 + rows * in_dim).unwrap();
                let op = LinearBackward::new(gpu, &x_buf, &z_buf, &p_buf, &dy_buf, &g_buf, Some(&dx_buf)).unwrap();
                let mut rec = Recorder::new(gpu);
                let offsets = BackwardOffsets { x: 0, z: 4, dy: 6, dx: 1 };
                op.record(&mut rec, &shape, act, rows, offsets, accumulate);
                rec.submit_and_wait().unwrap();

                let what = format!("backward {rows}x{in_dim}->{out_dim} {act:?} accumulate={accumulate}");
                let grads: Vec<f32> = g_buf.read(gpu).unwrap();
                let base = |i: usize| if accumulate { old_grads[i] } else { 0.0 };
                let dw_want: Vec<f32> = (0..want.dw.len()).map(|i| want.dw[i] + base(shape.weight_off + i)).collect();
                let db_want: Vec<f32> = (0..out_dim).map(|i| want.db[i] + base(shape.bias_off + i)).collect();
                assert_close(&format!("{what} dW"), &grads[shape.weight_off..shape.bias_off], &dw_want, 1e-5);
                assert_close(&format!("{what} db"), &grads[shape.bias_off..], &db_want, 1e-5);
                assert_close(&format!("{what} dx"), &dx_buf.read::<f32>(gpu).unwrap()[1..], &want.dx, 1e-5);
                // Parameters outside the layer are left alone.
                assert_eq!(grads[..shape.weight_off], old_grads[..shape.weight_off], "{what}: padding touched");
            }
        }
    }
}

#[test]
fn activation_gradients_match_finite_differences() {
    let h = 1e-3f64;
    for act in Activation::ALL {
        for i in 0..200 {
            let z = -6.0 + 0.0613 * i as f32;
            if act == Activation::Relu && z.abs() < 1e-2 {
                continue; // the kink
            }
            let f = |v: f64| reference::activation::activate(v as f32, act) as f64;
            let numeric = (f(z as f64 + h) - f(z as f64 - h)) / (2.0 * h);
            let analytic = reference::activation::activate_grad(z, act) as f64;
            assert!((numeric - analytic).abs() < 2e-3, "{act:?}'({z}) = {analytic}, finite difference {numeric}");
        }
    }
}
