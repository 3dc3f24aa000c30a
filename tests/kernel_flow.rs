//! The flow-matching kernels against their CPU twins: energy weights and the Euler step.

mod common;

use common::{assert_close, gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::energy_weights::EnergyWeights;
use qipo::reference;
use qipo::selftest::{energy_weights, euler, flow_pairs};

#[test]
fn energy_weights_match_reference() {
    // (groups, group size): QIPO's 17-action support sets, one whole batch, odd sizes.
    for (groups, size) in [(1, 1), (7, 17), (33, 3), (1, 257), (257, 5)] {
        for coef in [-5.0f32, 0.0, 3.0] {
            // Each group's weights must also sum to the scale.
            let case = energy_weights::Case {
                groups,
                size,
                coef,
                scale: 1.7,
                seed: (groups * size) as u64,
                tolerance: 1e-5,
                sum_tolerance: Some(1e-4),
            };
            let check = energy_weights::check(gpu(), &case).unwrap();
            assert!(check.passed, "{case:?}: {check}");
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
    for n in [1usize, 7, 33, 257, 1000] {
        for clips in [&[None], &[Some((-1.0f32, 1.0f32))]] {
            let case = euler::Case { n, dt: 0.1, clips, seed: n as u64, tolerance: 1e-6 };
            let check = euler::check(gpu(), &case).unwrap();
            assert!(check.passed, "{case:?}: {check}");
        }
    }
}

#[test]
fn flow_pairs_match_reference() {
    use qipo::random::{streams, RngDraw};
    for (rows, dim) in [(1, 1), (7, 2), (33, 6), (257, 3)] {
        let noise = RngDraw::new(42, streams::FLOW_NOISE, rows as u32);
        let time = RngDraw::new(42, streams::FLOW_TIME, rows as u32);
        let seed = rows as u64;
        let case = flow_pairs::Case { rows, dim, noise, time, seed, t_tolerance: 1e-6, tolerance: 1e-5 };
        let check = flow_pairs::check(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
        // The path's identity: x_t + (1 - t)·target = x1.
        let x1 = random(seed, rows * dim, 3.0);
        let (xt_ref, t_ref, target_ref) = reference::flow::flow_pairs(&x1, rows, dim, noise, time);
        for (r, &tr) in t_ref.iter().enumerate() {
            for j in 0..dim {
                let i = r * dim + j;
                let back = xt_ref[i] + (1.0 - tr) * target_ref[i];
                assert!((back - x1[i]).abs() < 1e-4, "row {r}: x_t + (1-t)(x1-x0) = {back}, x1 = {}", x1[i]);
            }
        }
    }
}

/// Copies of a network form their pairs in one dispatch: copy c's block of rows must be what
/// the single-copy kernel gives on that block alone with copy c's draws (bit for bit), and the
/// CPU twin's pairs for those draws; the seed's low word carries into the high one at copy 2.
/// The pairs of copy `c` alone, with its (noise, time) draws: its `copy_rows` rows of x1,
/// written `rows` rows into the outputs (after the copies' own pairs).
fn single_copy_pairs(
    (noise, time): (qipo::random::RngDraw, qipo::random::RngDraw),
    c: usize,
    copy_rows: usize,
    rows: usize,
    dim: usize,
) -> qipo::kernels::flow_pairs::FlowPairsParams {
    let first = c * copy_rows;
    qipo::kernels::flow_pairs::FlowPairsParams {
        noise,
        time,
        rows: copy_rows as u32,
        dim: dim as u32,
        x1_off: (first * dim) as u32,
        xt_off: ((rows + first) * dim) as u32,
        t_off: (rows + first) as u32,
        target_off: ((rows + first) * dim) as u32,
        ..Default::default()
    }
}

#[test]
fn flow_pair_copies_match_per_seed_pairs() {
    use qipo::kernels::flow_pairs::FlowPairs;
    use qipo::random::{streams, RngStream};
    let gpu = gpu();
    let (copies, copy_rows, dim) = (3usize, 5usize, 3usize);
    let rows = copies * copy_rows;
    let seed = 0x0000_0002_FFFF_FFFEu64;
    let x1 = random(77, rows * dim, 3.0);
    let mut noise = RngStream { calls: 4, ..RngStream::new(seed, streams::FLOW_NOISE) };
    let mut time = RngStream::new(seed, streams::FLOW_TIME);
    let (noise_draw, time_draw) = (noise.peek(), time.peek());
    // The copies' pairs fill the first half of each output, the per-copy runs the second.
    let x1_buf = GpuBuffer::from_slice(gpu, "x1", &x1).unwrap();
    let xt = GpuBuffer::zeros(gpu, "x_t", 2 * rows * dim).unwrap();
    let t = GpuBuffer::zeros(gpu, "t", 2 * rows).unwrap();
    let target = GpuBuffer::zeros(gpu, "target", 2 * rows * dim).unwrap();
    let op = FlowPairs::new(gpu, &x1_buf, &xt, &t, &target).unwrap();
    let mut rec = Recorder::new(gpu);
    op.record_copies(&mut rec, copies, copy_rows, dim, &mut noise, &mut time);
    for c in 0..copies {
        let draws = (noise_draw.for_copy(c as u32), time_draw.for_copy(c as u32));
        op.record_with(&mut rec, single_copy_pairs(draws, c, copy_rows, rows, dim));
    }
    rec.submit_and_wait().unwrap();
    assert_eq!((noise.calls, time.calls), (5, 1), "one draw from each stream for all copies");

    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let (xt, t, target) = (xt.read::<f32>(gpu).unwrap(), t.read::<f32>(gpu).unwrap(), target.read::<f32>(gpu).unwrap());
    let n = copy_rows * dim;
    for c in 0..copies {
        let what = format!("pairs copy {c} of {copies}×{copy_rows}x{dim}");
        let (rows_c, values_c) = (c * copy_rows..(c + 1) * copy_rows, c * n..(c + 1) * n);
        let alone = |v: &[f32], per_row: usize| v[(rows + c * copy_rows) * per_row..][..copy_rows * per_row].to_vec();
        assert_eq!(bits(&t[rows_c.clone()]), bits(&alone(&t, 1)), "{what} t against its block alone");
        assert_eq!(bits(&xt[values_c.clone()]), bits(&alone(&xt, dim)), "{what} x_t against its block alone");
        assert_eq!(
            bits(&target[values_c.clone()]),
            bits(&alone(&target, dim)),
            "{what} target against its block alone"
        );
        let (xt_ref, t_ref, target_ref) = reference::flow::flow_pairs(
            &x1[values_c.clone()],
            copy_rows,
            dim,
            noise_draw.for_copy(c as u32),
            time_draw.for_copy(c as u32),
        );
        assert_close(&format!("{what} t"), &t[rows_c.clone()], &t_ref, 1e-6);
        assert_close(&format!("{what} x_t"), &xt[values_c.clone()], &xt_ref, 1e-5);
        assert_close(&format!("{what} target"), &target[values_c], &target_ref, 1e-5);
        for other in 0..c {
            assert_ne!(t[rows_c.clone()], t[other * copy_rows..][..copy_rows], "{what}: times same as copy {other}");
        }
    }
}

/// A grid of settings per seed: consecutive copies of one seed draw that seed's noise and
/// times (each on its own data rows), bit for bit what the single-copy kernel gives with the
/// seed's draws.
#[test]
fn flow_pair_copies_of_one_seed_draw_that_seeds_numbers() {
    use qipo::kernels::flow_pairs::FlowPairs;
    use qipo::random::{streams, RngStream};
    let gpu = gpu();
    let (copies, per_seed, copy_rows, dim) = (4usize, 2usize, 6usize, 2usize);
    let rows = copies * copy_rows;
    let x1 = random(5, rows * dim, 1.0);
    let mut noise = RngStream::new(41, streams::FLOW_NOISE);
    let mut time = RngStream::new(41, streams::FLOW_TIME);
    let (noise_draw, time_draw) = (noise.peek(), time.peek());
    let x1_buf = GpuBuffer::from_slice(gpu, "x1", &x1).unwrap();
    let xt = GpuBuffer::zeros(gpu, "x_t", 2 * rows * dim).unwrap();
    let t = GpuBuffer::zeros(gpu, "t", 2 * rows).unwrap();
    let target = GpuBuffer::zeros(gpu, "target", 2 * rows * dim).unwrap();
    let grid = FlowPairs::new(gpu, &x1_buf, &xt, &t, &target).unwrap().with_copies_per_seed(per_seed);
    let alone = FlowPairs::new(gpu, &x1_buf, &xt, &t, &target).unwrap();
    let mut rec = Recorder::new(gpu);
    grid.record_copies(&mut rec, copies, copy_rows, dim, &mut noise, &mut time);
    for c in 0..copies {
        let seed_copy = (c / per_seed) as u32;
        let draws = (noise_draw.for_copy(seed_copy), time_draw.for_copy(seed_copy));
        alone.record_with(&mut rec, single_copy_pairs(draws, c, copy_rows, rows, dim));
    }
    rec.submit_and_wait().unwrap();
    let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let (xt, t) = (bits(xt.read::<f32>(gpu).unwrap()), bits(t.read::<f32>(gpu).unwrap()));
    assert_eq!(xt[..rows * dim], xt[rows * dim..], "x_t of every copy is its seed's");
    assert_eq!(t[..rows], t[rows..], "t of every copy is its seed's");
    assert_eq!(t[..copy_rows], t[copy_rows..2 * copy_rows], "one seed's copies draw the same times");
    assert_ne!(t[..copy_rows], t[2 * copy_rows..3 * copy_rows], "the next seed draws its own");
}
