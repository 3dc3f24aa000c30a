//! The linear layer kernels against their CPU twin, on random inputs of odd sizes, on both
//! matmul cores, single and in copies.

mod common;

use common::gpu;
use qipo::gpu::GpuBuffer;
use qipo::gpu::Recorder;
use qipo::kernels::linear::{
    weight_splits, BackwardOffsets, Core, ForwardOffsets, InputGradient, LinearBackward, LinearForward,
};
use qipo::nn::Activation;
use qipo::ops::LayerShape;
use qipo::reference;
use qipo::selftest::linear::{self, Case, Layout, ALIGNED, ODD};

/// Every core on the ladder, so a new one is checked as soon as it is added.
const CORES: [Core; Core::LADDER.len()] = Core::LADDER;

/// (rows, in, out): odd sizes on both sides of the 64-wide tiles and the 16-deep k steps.
const SHAPES: [(usize, usize, usize); 10] = [
    (1, 1, 1),
    (7, 33, 5),
    (33, 7, 257),
    (257, 17, 33),
    (1, 257, 7),
    (65, 64, 63),
    (37, 29, 13),   // the forward product's m = 37, n = 13, k = 29
    (300, 46, 256), // a hidden layer on an odd batch
    (68, 32, 48),   // every size a multiple of 4: with aligned offsets, all loads are vec4s
    (0, 5, 3),
];

/// Checks Y and Z of `case` on `core`; `shared_input` gives every copy the same X.
fn check_forward(core: Core, case: Case, shared_input: bool) {
    let check = linear::check_forward(gpu(), core, &case, shared_input).unwrap();
    assert!(check.passed, "{core:?} {case:?} shared={shared_input}: {check}");
}

fn check_backward(core: Core, case: Case, accumulate: bool) {
    check_backward_below(core, case, accumulate, None);
}

/// Checks dW, db, dX and dZ of `case` on `core`, with `below` the activation of a layer
/// below whose gradient dX's epilogue applies.
fn check_backward_below(core: Core, case: Case, accumulate: bool, below: Option<Activation>) {
    for check in linear::check_backward(gpu(), core, &case, accumulate, below).unwrap() {
        assert!(check.passed, "{core:?} {case:?} accumulate={accumulate} below={below:?}: {check}");
    }
}

/// A case at the tests' tolerance, 1e-5 for everything.
#[allow(clippy::too_many_arguments)]
fn case(
    rows: usize,
    in_dim: usize,
    out_dim: usize,
    act: Activation,
    copies: usize,
    input_group: usize,
    layout: Layout,
    seed: u64,
) -> Case {
    Case { rows, in_dim, out_dim, act, copies, input_group, layout, seed, tolerance: 1e-5, grad_tolerance: 1e-5 }
}

fn single(i: usize, (rows, in_dim, out_dim): (usize, usize, usize), act: Activation, layout: Layout) -> Case {
    case(rows, in_dim, out_dim, act, 1, 1, layout, 10 * i as u64 + act.code() as u64)
}

#[test]
fn forward_matches_reference() {
    for core in CORES {
        for (i, &shape) in SHAPES.iter().enumerate() {
            for act in Activation::ALL {
                for layout in [ODD, ALIGNED] {
                    check_forward(core, single(i, shape, act, layout), false);
                }
            }
        }
    }
}

#[test]
fn backward_matches_reference() {
    for core in CORES {
        for (i, &shape) in SHAPES.iter().enumerate() {
            for act in Activation::ALL {
                for layout in [ODD, ALIGNED] {
                    for accumulate in [false, true] {
                        check_backward(core, single(i, shape, act, layout), accumulate);
                    }
                }
            }
        }
    }
}

#[test]
fn copies_match_reference() {
    let shapes = [(37, 29, 13), (300, 46, 256), (68, 32, 48), (1, 3, 11), (0, 5, 3)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for (layout, act) in [(ODD, Activation::Mish), (ALIGNED, Activation::Relu)] {
                let case = case(rows, in_dim, out_dim, act, 3, 1, layout, 500 + i as u64);
                check_forward(core, case, false);
                check_forward(core, case, true);
                check_backward(core, case, false);
                check_backward(core, case, true);
            }
        }
    }
}

/// dX with the activation gradient of the layer below fused into its epilogue, for every
/// activation below, on single layers and on copies, on both cores.
#[test]
fn input_gradient_with_the_activation_below_matches_reference() {
    let shapes = [(37, 29, 13), (68, 32, 48), (1, 3, 11), (5, 1, 7)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for below in Activation::ALL {
                for (layout, copies) in [(ODD, 1), (ALIGNED, 3)] {
                    let seed = 900 + 10 * i as u64 + below.code() as u64;
                    let act = Activation::Mish;
                    let case = case(rows, in_dim, out_dim, act, copies, 1, layout, seed);
                    check_backward_below(core, case, false, Some(below));
                }
            }
        }
    }
}

/// Consecutive copies sharing one input block (the twin heads of one seed): each copy's Y, Z,
/// dW and db must be its own layer's on the block it shares, the last group partial.
#[test]
fn copies_in_groups_on_shared_inputs_match_reference() {
    let shapes = [(37, 29, 13), (68, 32, 48), (1, 3, 11), (0, 5, 3)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            for (layout, act) in [(ODD, Activation::Mish), (ALIGNED, Activation::Relu)] {
                for (copies, input_group) in [(3, 2), (5, 3)] {
                    let seed = 700 + 10 * i as u64 + copies as u64;
                    let case = case(rows, in_dim, out_dim, act, copies, input_group, layout, seed);
                    check_forward(core, case, false);
                    check_backward(core, case, false);
                    check_backward(core, case, true);
                }
            }
        }
    }
}

/// Long batches through layers with few tiles of dW: the weight gradient is summed in row
/// chunks (the last one shorter) and the chunks added up by `sum_splits`, single, in copies,
/// in groups sharing an input, overwriting and accumulating, on every core.
#[test]
fn weight_gradients_summed_in_row_chunks_match_reference() {
    let shapes = [(1037, 13, 7), (600, 46, 70), (515, 3, 129)];
    for core in CORES {
        for (i, &(rows, in_dim, out_dim)) in shapes.iter().enumerate() {
            assert!(weight_splits(rows, out_dim, in_dim).0 > 1, "{rows}×{in_dim}→{out_dim} is not split");
            let seed = 1200 + 10 * i as u64;
            for (layout, copies, group) in [(ODD, 1, 1), (ALIGNED, 3, 1), (ODD, 3, 2)] {
                for accumulate in [false, true] {
                    let case = case(rows, in_dim, out_dim, Activation::Mish, copies, group, layout, seed);
                    check_backward(core, Case { grad_tolerance: 1e-4, ..case }, accumulate);
                }
            }
        }
    }
}

/// Y, Z, dW, db and dX of one layer on `core`, as bits.
fn layer_bits(core: Core, rows: usize, in_dim: usize, out_dim: usize) -> Vec<u32> {
    let gpu = gpu();
    let layer = LayerShape { in_dim, out_dim, weight_off: 4, bias_off: 4 + in_dim * out_dim };
    let values = |seed, n| GpuBuffer::from_slice(gpu, "v", &qipo::selftest::values(seed, n, 1.0)).unwrap();
    let (x, params, dy) = (values(1, rows * in_dim), values(2, layer.bias_off + out_dim), values(3, rows * out_dim));
    let (y, z) =
        (GpuBuffer::zeros(gpu, "y", rows * out_dim).unwrap(), GpuBuffer::zeros(gpu, "z", rows * out_dim).unwrap());
    let (grads, dx) = (GpuBuffer::zeros(gpu, "g", params.len).unwrap(), GpuBuffer::zeros(gpu, "dx", x.len).unwrap());
    let forward = LinearForward::with_core(gpu, core, &x, &params, &y, &z).unwrap();
    let dx_arg = Some(InputGradient::plain(&dx));
    let backward = LinearBackward::with_core(gpu, core, &x, &z, &params, &dy, &grads, dx_arg).unwrap();
    assert_eq!(forward.core(), core);
    let mut rec = Recorder::new(gpu);
    forward.record(&mut rec, &layer, Activation::Mish, rows, ForwardOffsets { z: Some(0), ..Default::default() });
    backward.record(&mut rec, &layer, Activation::Mish, rows, BackwardOffsets::default(), false);
    rec.submit_and_wait().unwrap();
    [y, z, grads, dx].iter().flat_map(|b| b.read::<f32>(gpu).unwrap()).map(f32::to_bits).collect()
}

/// The cores add the same products in the same order: a run gives the same bits whichever
/// core `Auto` timed fastest on the machine (here on shapes whose every load can be a vec4,
/// one with dW in row chunks).
#[test]
fn every_core_computes_the_same_bits() {
    for (rows, in_dim, out_dim) in [(68, 32, 48), (600, 20, 12), (37, 29, 13)] {
        let direct = layer_bits(Core::Direct, rows, in_dim, out_dim);
        for core in Core::LADDER {
            assert!(layer_bits(core, rows, in_dim, out_dim) == direct, "{core:?} {rows}×{in_dim}→{out_dim}");
        }
    }
}

#[test]
fn weight_splits_cover_the_rows_in_whole_chunks() {
    for (rows, out_dim, in_dim) in [(4352, 6, 256), (4352, 256, 256), (4352, 256, 55), (1037, 7, 13), (100_000, 1, 1)] {
        let (splits, split_rows) = weight_splits(rows, out_dim, in_dim);
        assert!(splits > 1 && splits <= 16, "{rows} {out_dim} {in_dim}: {splits}");
        assert_eq!(split_rows % 16, 0);
        assert!(splits * split_rows >= rows && (splits - 1) * split_rows < rows, "{splits} × {split_rows}, {rows}");
    }
    // Short batches, and layers with tiles enough, are summed in one go.
    for (rows, out_dim, in_dim) in [(256, 6, 256), (511, 1, 1), (4096, 4096, 4096), (0, 3, 3), (4352, 1024, 1024)] {
        assert_eq!(weight_splits(rows, out_dim, in_dim), (1, rows));
    }
}

#[test]
fn auto_core_follows_the_device() {
    let gpu = gpu();
    let forced = std::env::var(qipo::kernels::linear::CORE_VAR).ok();
    let want = match forced.as_deref().map(|s| s.parse::<Core>().unwrap()) {
        Some(core) if core != Core::Auto => core,
        _ if gpu.info.device_type == wgpu::DeviceType::Cpu => Core::Direct,
        _ => qipo::kernels::core_timing::auto_times(gpu).unwrap().fastest(),
    };
    assert_eq!(Core::Auto.resolve(gpu).unwrap(), want);
    assert_eq!(Core::Tiled.resolve(gpu).unwrap(), Core::Tiled);
    assert_eq!("Direct".parse::<Core>().unwrap(), Core::Direct);
    assert!("fast".parse::<Core>().is_err());
    // The ladder's numbers, from 1.
    assert_eq!("1".parse::<Core>().unwrap(), Core::Direct);
    assert_eq!("2".parse::<Core>().unwrap(), Core::Tiled);
    assert_eq!("3".parse::<Core>().unwrap(), Core::Vec4);
    assert_eq!("VEC4".parse::<Core>().unwrap(), Core::Vec4);
    assert_eq!(Core::LADDER.map(|c| c.number()), [Some(1), Some(2), Some(3)]);
    assert_eq!(Core::Auto.number(), None);
    for bad in ["0", "4", "-1"] {
        assert!(bad.parse::<Core>().is_err(), "{bad}");
    }

    // Buffers shorter than a vec4 cannot be read as vec4s: such a layer runs direct.
    let x = GpuBuffer::zeros(gpu, "x", 2).unwrap();
    let params = GpuBuffer::zeros(gpu, "params", 6).unwrap();
    let (y, z) = (GpuBuffer::zeros(gpu, "y", 2).unwrap(), GpuBuffer::zeros(gpu, "z", 2).unwrap());
    for core in [Core::Tiled, Core::Vec4] {
        let op = LinearForward::with_core(gpu, core, &x, &params, &y, &z).unwrap();
        assert_eq!(op.core(), Core::Direct);
    }
}

/// The timing behind `Auto` on GPUs, run here on a small odd layer: every core of the ladder
/// gets a time, and the fastest is the one with the least.
#[test]
fn core_timing_picks_the_least_time() {
    let gpu = gpu();
    let times = qipo::kernels::core_timing::time_cores(gpu, 67, 23, 45).unwrap();
    assert_eq!(times.seconds.iter().map(|&(c, _)| c).collect::<Vec<_>>(), Core::LADDER.to_vec());
    assert!(times.seconds.iter().all(|&(_, s)| s.is_finite() && s > 0.0), "{times:?}");
    let least = times.seconds.iter().map(|&(_, s)| s).fold(f64::INFINITY, f64::min);
    let fastest = times.fastest();
    assert_eq!(times.seconds.iter().find(|&&(c, _)| c == fastest).unwrap().1, least);
    let line = times.describe();
    assert!(line.starts_with(fastest.name()) && line.contains("67×23→45"), "{line}");
    for core in Core::LADDER {
        assert!(line.contains(&format!("{} ", core.name())), "{line}");
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
