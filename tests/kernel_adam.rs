//! Adam and AdamW against their CPU twin, with and without gradient clipping, with a Polyak
//! target following the parameters, and on a small convex problem.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::adam::Adam;
use qipo::ops::AdamConfig;
use qipo::reference::adam::{self as cpu, AdamState};
use qipo::selftest::adam;

const SIZES: [usize; 5] = [1, 7, 33, 257, 4099];
const STEPS: u64 = 4;

/// Adam, AdamW, and each with clipping that is active (a norm far below the gradients') and
/// inactive (far above).
fn configs() -> [(&'static str, AdamConfig); 5] {
    let adam = AdamConfig { lr: 1e-2, ..Default::default() };
    let adamw = AdamConfig { weight_decay: 0.1, ..adam };
    [
        ("Adam", adam),
        ("AdamW", adamw),
        ("Adam clipped", AdamConfig { max_grad_norm: 0.5, ..adam }),
        ("AdamW clipped", AdamConfig { max_grad_norm: 0.5, ..adamw }),
        ("AdamW clip inactive", AdamConfig { max_grad_norm: 1e6, ..adamw }),
    ]
}

#[test]
fn steps_match_reference() {
    for (case, &len) in SIZES.iter().enumerate() {
        for (c, (name, config)) in configs().into_iter().enumerate() {
            // With clipping, each step's squared gradient norm is checked too.
            let seed = 1000 * case as u64 + 10 * c as u64;
            let case = adam::Case {
                len,
                copies: 1,
                config,
                steps: STEPS,
                tau: None,
                per_copy_lr: false,
                seed,
                tolerance: 1e-5,
            };
            let check = adam::check(gpu(), &case).unwrap();
            assert!(check.passed, "{name}: {case:?}: {check}");
        }
    }
}

#[test]
fn clipping_scales_the_gradient() {
    // The first moment after one step is (1 - β1)·clip·g, which shows the clip factor exactly.
    let g = vec![3.0f32, 4.0]; // norm 5
    let config = AdamConfig { max_grad_norm: 1.0, ..Default::default() };
    let mut state = AdamState::new(2);
    cpu::step(&mut [0.0, 0.0], &g, &mut state, &config);
    let clip = 1.0 / (5.0 + 1e-6);
    for (m, g) in state.m.iter().zip(&g) {
        assert!((m - 0.1 * clip * g).abs() < 1e-7, "m = {m}");
    }
    assert_eq!(cpu::clip_scale(&g, 10.0), 1.0, "a norm below the limit is left alone");
    assert_eq!(cpu::clip_scale(&g, 0.0), 1.0, "max norm 0 disables clipping");
}

/// f(θ) = ½ Σ a_i (θ_i - c_i)² and its gradient.
fn quadratic(theta: &[f32], a: &[f32], c: &[f32]) -> (f64, Vec<f32>) {
    let value = theta.iter().zip(a).zip(c).map(|((&t, &a), &c)| 0.5 * a as f64 * ((t - c) as f64).powi(2)).sum();
    let grad = theta.iter().zip(a).zip(c).map(|((&t, &a), &c)| a * (t - c)).collect();
    (value, grad)
}

#[test]
fn minimises_a_quadratic() {
    let gpu = gpu();
    let n = 33;
    let a: Vec<f32> = random(1, n, 0.75).iter().map(|v| v + 1.25).collect(); // curvatures in [0.5, 2]
    let c = random(2, n, 1.0);
    for config in [
        AdamConfig { lr: 0.05, ..Default::default() },
        AdamConfig { lr: 0.05, max_grad_norm: 0.1, ..Default::default() },
    ] {
        let params = GpuBuffer::zeros(gpu, "theta", n).unwrap();
        let grads = GpuBuffer::zeros(gpu, "grads", n).unwrap();
        let mut adam = Adam::new(gpu, &params, &grads, config).unwrap();
        let (start, _) = quadratic(&vec![0.0; n], &a, &c);
        let mut value = start;
        for _ in 0..400 {
            let theta: Vec<f32> = params.read(gpu).unwrap();
            let (f, g) = quadratic(&theta, &a, &c);
            value = f;
            grads.write(gpu, 0, &g);
            let mut rec = Recorder::new(gpu);
            adam.record_step(&mut rec);
            rec.submit_and_wait().unwrap();
        }
        let theta: Vec<f32> = params.read(gpu).unwrap();
        let worst = theta.iter().zip(&c).map(|(t, c)| (t - c).abs()).fold(0.0, f32::max);
        assert!(value < 1e-4 * start, "{config:?}: f went from {start} to {value}");
        assert!(worst < 1e-2, "{config:?}: θ is {worst} away from the minimum");
    }
}

#[test]
fn weight_decay_shrinks_parameters_without_gradient() {
    // With zero gradients AdamW only decays: θ ← θ·(1 - lr·λ) per step.
    let gpu = gpu();
    let theta = random(3, 7, 1.0);
    let params = GpuBuffer::from_slice(gpu, "theta", &theta).unwrap();
    let grads = GpuBuffer::zeros(gpu, "grads", 7).unwrap();
    let config = AdamConfig { lr: 0.1, weight_decay: 0.5, ..Default::default() };
    let mut adam = Adam::new(gpu, &params, &grads, config).unwrap();
    let mut rec = Recorder::new(gpu);
    for _ in 0..3 {
        adam.record_step(&mut rec);
    }
    rec.submit_and_wait().unwrap();
    let want: Vec<f32> = theta.iter().map(|t| t * 0.95f32.powi(3)).collect();
    assert_close("decayed parameters", &params.read::<f32>(gpu).unwrap(), &want, 1e-6);
}

#[test]
fn bad_settings_are_errors() {
    let gpu = gpu();
    let params = GpuBuffer::zeros(gpu, "params", 4).unwrap();
    let grads = GpuBuffer::zeros(gpu, "grads", 5).unwrap();
    assert!(Adam::new(gpu, &params, &grads, AdamConfig::default()).is_err(), "length mismatch");
    let base = AdamConfig::default();
    for bad in [
        AdamConfig { lr: -1.0, ..base },
        AdamConfig { lr: f64::NAN, ..base },
        AdamConfig { beta1: 1.0, ..base },
        AdamConfig { beta2: -0.1, ..base },
        AdamConfig { eps: 0.0, ..base },
        AdamConfig { weight_decay: -0.01, ..base },
        AdamConfig { max_grad_norm: f64::NAN, ..base },
    ] {
        assert!(bad.validate().is_err(), "{bad:?} accepted");
    }
    let grads = GpuBuffer::zeros(gpu, "grads", 4).unwrap();
    let mut adam = Adam::new(gpu, &params, &grads, base).unwrap();
    assert!(adam.set_lr(f64::INFINITY).is_err());
    adam.set_lr(1e-3).unwrap();
    assert_eq!(adam.config().lr, 1e-3);
}

#[test]
fn bias_corrections_are_computed_in_f64() {
    let config = AdamConfig { lr: 1e-3, ..Default::default() };
    let first = config.step_params(1, 0, 1, 0);
    // At step 1 the corrections undo the (1 - β) factors: the step size is lr / 0.1.
    assert_eq!(first.correction1, (1.0 / (1.0 - 0.9f64)) as f32);
    assert_eq!(first.lr, 1e-3f32);
    assert_eq!(first.inv_sqrt_correction2, (1.0 / 0.001f64.sqrt()) as f32);
    assert_eq!(first.one_minus_beta1, 0.1f32);
    // Late in training both corrections tend to 1.
    let late = config.step_params(1_000_000, 0, 1, 0);
    assert_eq!((late.correction1, late.inv_sqrt_correction2), (1.0, 1.0));
}

#[test]
fn copies_are_clipped_each_by_its_own_norm() {
    // Three networks of 37 parameters in one buffer, gradients of very different sizes, and a
    // norm limit only some of them exceed: one optimiser for all must act like three.
    let gpu = gpu();
    let (copies, segment) = (3, 37);
    for (name, config) in configs() {
        let mut params_cpu = random(70, copies * segment, 1.0);
        let mut separate: Vec<(Vec<f32>, AdamState)> =
            params_cpu.chunks(segment).map(|p| (p.to_vec(), AdamState::new(segment))).collect();
        let mut state = AdamState::new(copies * segment);
        let params = GpuBuffer::from_slice(gpu, "params", &params_cpu).unwrap();
        let grads = GpuBuffer::zeros(gpu, "grads", copies * segment).unwrap();
        let mut adam = Adam::for_copies(gpu, &params, &grads, config, copies).unwrap();
        for step in 0..STEPS {
            let g: Vec<f32> = (0..copies)
                .flat_map(|c| random(80 + 10 * step + c as u64, segment, 0.01 * 30f32.powi(c as i32)))
                .collect();
            grads.write(gpu, 0, &g);
            let mut rec = Recorder::new(gpu);
            adam.record_step(&mut rec);
            rec.submit_and_wait().unwrap();
            cpu::step_copies(&mut params_cpu, &g, &mut state, &config, copies);
            for ((p, s), g) in separate.iter_mut().zip(g.chunks(segment)) {
                cpu::step(p, g, s, &config);
            }
        }
        let gpu_params: Vec<f32> = params.read(gpu).unwrap();
        assert_close(&format!("{name}: copies against their twin"), &gpu_params, &params_cpu, 1e-5);
        let alone: Vec<f32> = separate.into_iter().flat_map(|(p, _)| p).collect();
        assert_close(&format!("{name}: copies against separate optimisers"), &params_cpu, &alone, 1e-6);
    }
    let params = GpuBuffer::zeros(gpu, "params", 10).unwrap();
    assert!(Adam::for_copies(gpu, &params, &params, AdamConfig::default(), 3).is_err(), "10 is not 3 copies");
}

/// The Polyak step fused after the update: every step's target is its CPU twin's Polyak step
/// towards the twin's updated parameters, for one network and for copies, clipped or not; a
/// target with τ = 1 is an exact copy.
#[test]
fn polyak_target_follows_the_updated_parameters() {
    let gpu = gpu();
    for (len, copies) in [(1usize, 1usize), (257, 1), (3 * 37, 3), (4099, 1)] {
        for (name, config) in configs() {
            for tau in [0.005f32, 0.0, 1.0, 0.3] {
                for per_copy_lr in [false, copies > 1] {
                    let seed = len as u64;
                    let case = adam::Case {
                        len,
                        copies,
                        config,
                        steps: STEPS,
                        tau: Some(tau),
                        per_copy_lr,
                        seed,
                        tolerance: 1e-5,
                    };
                    let check = adam::check(gpu, &case).unwrap();
                    assert!(check.passed, "{name}: {case:?}: {check}");
                }
            }
        }
    }
    let params = GpuBuffer::zeros(gpu, "params", 10).unwrap();
    let short = GpuBuffer::zeros(gpu, "short target", 9).unwrap();
    let adam = Adam::new(gpu, &params, &params, AdamConfig::default()).unwrap();
    let err = adam.with_polyak_target(gpu, &short, 0.1).err().unwrap();
    assert!(err.to_string().contains("short target"), "{err}");
}

/// Copies at their own learning rates (a sweep's grid of `policy.lr`): against the CPU twin,
/// and bit for bit against one optimiser per copy with that copy's rate, since a cell of a
/// grid must be exactly the run of its settings alone. Odd lengths, Adam and AdamW, clipped.
#[test]
fn copies_at_their_own_learning_rates_step_as_separate_optimisers() {
    let gpu = gpu();
    let (copies, segment) = (3, 41);
    let lrs = [3e-4, 1e-2, 0.05];
    for (name, config) in configs() {
        let case = adam::Case {
            len: copies * segment,
            copies,
            config,
            steps: STEPS,
            tau: None,
            per_copy_lr: true,
            seed: 5,
            tolerance: 1e-5,
        };
        let check = adam::check(gpu, &case).unwrap();
        assert!(check.passed, "{name}: {case:?}: {check}");

        let start = random(90, copies * segment, 1.0);
        let params = GpuBuffer::from_slice(gpu, "params", &start).unwrap();
        let grads = GpuBuffer::zeros(gpu, "grads", copies * segment).unwrap();
        let mut together = Adam::for_copies(gpu, &params, &grads, config, copies).unwrap();
        together.set_copy_lrs(gpu, &lrs).unwrap();
        // Rates other than the config's (1e-2) for copies 0 and 2: a kernel that ignored the
        // table would step them at 1e-2.
        let mut alone: Vec<(GpuBuffer, GpuBuffer, Adam)> = (0..copies)
            .map(|c| {
                let p = GpuBuffer::from_slice(gpu, "alone", &start[c * segment..(c + 1) * segment]).unwrap();
                let g = GpuBuffer::zeros(gpu, "alone grads", segment).unwrap();
                let adam = Adam::new(gpu, &p, &g, AdamConfig { lr: lrs[c], ..config }).unwrap();
                (p, g, adam)
            })
            .collect();
        for step in 0..STEPS {
            let g: Vec<f32> = (0..copies).flat_map(|c| random(95 + 7 * step + c as u64, segment, 0.3)).collect();
            grads.write(gpu, 0, &g);
            let mut rec = Recorder::new(gpu);
            together.record_step(&mut rec);
            for (c, (_, grads_c, adam)) in alone.iter_mut().enumerate() {
                grads_c.write(gpu, 0, &g[c * segment..(c + 1) * segment]);
                adam.record_step(&mut rec);
            }
            rec.submit_and_wait().unwrap();
        }
        let together: Vec<u32> = params.read::<f32>(gpu).unwrap().iter().map(|x| x.to_bits()).collect();
        let alone: Vec<u32> =
            alone.iter().flat_map(|(p, _, _)| p.read::<f32>(gpu).unwrap()).map(|x| x.to_bits()).collect();
        assert_eq!(together, alone, "{name}: copies at their own rates against one optimiser each");
    }
    let params = GpuBuffer::zeros(gpu, "params", 6).unwrap();
    let mut adam = Adam::for_copies(gpu, &params, &params, AdamConfig::default(), 3).unwrap();
    assert!(adam.set_copy_lrs(gpu, &[1e-3, 1e-3]).is_err(), "two rates for three copies");
    assert!(adam.set_copy_lrs(gpu, &[1e-3, f64::NAN, 1e-3]).is_err(), "a rate that is not a number");
    adam.set_copy_lrs(gpu, &[1e-3, 2e-3, 3e-3]).unwrap();
    assert!(adam.set_lr(1e-2).is_err(), "one rate for copies that have their own");
}
