//! The flow-matching kernels against their CPU twins: energy weights and the Euler step.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::energy_weights::{EnergyWeights, EnergyWeightsParams};
use qipo::kernels::euler::EulerStep;
use qipo::reference;

#[test]
fn energy_weights_match_reference() {
    let gpu = gpu();
    // (groups, group size): QIPO's 17-action support sets, one whole batch, odd sizes.
    for (groups, size) in [(1, 1), (7, 17), (33, 3), (1, 257), (257, 5)] {
        for coef in [-5.0f32, 0.0, 3.0] {
            let values = random((groups * size) as u64, groups * size, 4.0);
            let scale = 1.7;
            let want = reference::flow::energy_weights(&values, size, coef, scale);
            let v = GpuBuffer::from_slice(gpu, "values", &[vec![0.0; 2], values].concat()).unwrap();
            let w = GpuBuffer::zeros(gpu, "weights", 1 + groups * size).unwrap();
            let op = EnergyWeights::new(gpu, &v, &w).unwrap();
            let mut rec = Recorder::new(gpu);
            let params = EnergyWeightsParams {
                groups: groups as u32,
                group_size: size as u32,
                value_off: 2,
                weight_off: 1,
                coef,
                scale,
            };
            op.record_with(&mut rec, params);
            rec.submit_and_wait().unwrap();
            let got = &w.read::<f32>(gpu).unwrap()[1..];
            assert_close(&format!("weights {groups}x{size} coef {coef}"), got, &want, 1e-5);
            for (g, chunk) in got.chunks(size).enumerate() {
                let total: f32 = chunk.iter().sum();
                assert!((total - scale).abs() < 1e-4, "group {g} sums to {total}, not {scale}");
            }
        }
    }
}

#[test]
fn energy_weights_survive_extreme_values() {
    // Huge logits must not overflow: the largest one dominates.
    let values = [1000.0f32, 0.0, -1000.0];
    let w = reference::flow::energy_weights(&values, 3, 1.0, 1.0);
    assert_eq!(w, vec![1.0, 0.0, 0.0]);
    let gpu = gpu();
    let v = GpuBuffer::from_slice(gpu, "values", &values).unwrap();
    let out = GpuBuffer::zeros(gpu, "weights", 3).unwrap();
    let op = EnergyWeights::new(gpu, &v, &out).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record(&mut rec, 1, 3, 1.0, 1.0);
    rec.submit_and_wait().unwrap();
    assert_eq!(out.read::<f32>(gpu).unwrap(), w);
}

#[test]
fn euler_step_matches_reference() {
    let gpu = gpu();
    for n in [1usize, 7, 33, 257, 1000] {
        for clip in [None, Some((-1.0f32, 1.0f32))] {
            let x = random(n as u64, n, 2.0);
            let v = random(n as u64 + 1, n, 5.0);
            let mut want = x.clone();
            reference::flow::euler_step(&mut want, &v, 0.1, clip);
            let xb = GpuBuffer::from_slice(gpu, "x", &x).unwrap();
            let vb = GpuBuffer::from_slice(gpu, "v", &v).unwrap();
            let op = EulerStep::new(gpu, &vb, &xb).unwrap();
            let mut rec = Recorder::new(gpu);
            op.record(&mut rec, n, 0.1, clip);
            rec.submit_and_wait().unwrap();
            assert_close(&format!("euler n={n} clip={clip:?}"), &xb.read::<f32>(gpu).unwrap(), &want, 1e-6);
        }
    }
}
