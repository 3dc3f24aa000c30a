//! The counter-based RNG: Philox known answers, GPU against its CPU twin (bit for bit), and
//! statistical sanity of the distributions.

mod common;

use common::{assert_close, gpu};
use qipo::gpu::{Access, Bound, GpuBuffer, Kernel, Recorder};
use qipo::kernels::rng::{Distribution, RngFill};
use qipo::kernels::snippets::RNG;
use qipo::random::{streams, RngDraw, RngStream};
use qipo::reference::rng as cpu;
use qipo::selftest::rng;

/// Random123's known-answer vectors for philox4x32-10 (kat_vectors): counter, key, result.
const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff; 4], [0xffffffff; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

/// A test-only kernel over the snippet itself: Philox of an explicit counter and key, and the
/// 32×32→64 high word, which the fill kernels only reach through their fixed counter layout.
const PROBE_SRC: &str = r#"
struct Probe { counter: vec4<u32>, key: vec2<u32>, offset: u32, count: u32 }
var<immediate> probe: Probe;
@group(0) @binding(0) var<storage, read_write> data: array<u32>;

@compute @workgroup_size(1)
fn philox_block() {
    let words = philox4x32_10(probe.counter, probe.key);
    for (var j = 0u; j < 4u; j += 1u) {
        data[probe.offset + j] = words[j];
    }
}

// data[2·count + i] = high word of data[2i]·data[2i + 1]
@compute @workgroup_size(64)
fn mul_hi(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i < probe.count {
        data[2u * probe.count + i] = mul_hi_u32(data[2u * i], data[2u * i + 1u]);
    }
}
"#;
const PHILOX_PROBE: Kernel =
    Kernel { sources: &[RNG, ("rng_probe.wgsl", PROBE_SRC)], entry: "philox_block", bindings: &[Access::ReadWrite] };
const MUL_HI_PROBE: Kernel = Kernel { entry: "mul_hi", ..PHILOX_PROBE };

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Probe {
    counter: [u32; 4],
    key: [u32; 2],
    offset: u32,
    count: u32,
}

const SIZES: [usize; 6] = [1, 7, 33, 255, 257, 4099];
const SEED: u64 = 0x5EED_0000_1234_ABCD;

#[test]
fn philox_known_answers_on_cpu() {
    for (counter, key, want) in KNOWN_ANSWERS {
        assert_eq!(cpu::philox4x32_10(counter, key), want, "counter {counter:x?} key {key:x?}");
    }
}

#[test]
fn philox_known_answers_on_gpu() {
    let gpu = gpu();
    let out = GpuBuffer::zeros(gpu, "philox", 4 * KNOWN_ANSWERS.len()).unwrap();
    let probe = Bound::new(gpu, &PHILOX_PROBE, &[&out]).unwrap();
    let mut rec = Recorder::new(gpu);
    for (i, (counter, key, _)) in KNOWN_ANSWERS.iter().enumerate() {
        let params = Probe { counter: *counter, key: *key, offset: 4 * i as u32, count: 1 };
        probe.record(&mut rec, &params, [1, 1, 1]);
    }
    rec.submit_and_wait().unwrap();
    let got: Vec<u32> = out.read(gpu).unwrap();
    for (i, (counter, key, want)) in KNOWN_ANSWERS.iter().enumerate() {
        assert_eq!(got[4 * i..4 * i + 4], want[..], "counter {counter:x?} key {key:x?}");
    }
}

#[test]
fn mul_hi_matches_on_gpu() {
    let gpu = gpu();
    // Edge values, then a spread of Philox words.
    let mut pairs =
        vec![0, 0, 1, u32::MAX, u32::MAX, u32::MAX, 0xFFFF, 0x10001, 0x8000_0000, 2, 0xD251_1F53, 0xCD9E_8D57];
    pairs.extend((0..500).flat_map(|i| cpu::words(RngDraw::new(7, 0, 0), i)[..2].to_vec()));
    let count = pairs.len() / 2;
    let mut data = pairs.clone();
    data.resize(3 * count, 0);
    let buf = GpuBuffer::from_slice(gpu, "pairs", &data).unwrap();
    let probe = Bound::new(gpu, &MUL_HI_PROBE, &[&buf]).unwrap();
    let mut rec = Recorder::new(gpu);
    let params = Probe { counter: [0; 4], key: [0; 2], offset: 0, count: count as u32 };
    probe.record(&mut rec, &params, [count.div_ceil(64) as u32, 1, 1]);
    rec.submit_and_wait().unwrap();
    let got: Vec<u32> = buf.read_range(gpu, 2 * count, count).unwrap();
    for i in 0..count {
        let (a, b) = (pairs[2 * i], pairs[2 * i + 1]);
        assert_eq!(got[i], cpu::mul_hi_u32(a, b), "mul_hi({a:#x}, {b:#x})");
    }
}

#[test]
fn unit_interval_is_open() {
    let lowest = cpu::unit(0);
    let highest = cpu::unit(u32::MAX);
    assert!(lowest > 0.0 && highest < 1.0, "unit range [{lowest}, {highest}]");
    assert_eq!(lowest, 1.0 - highest, "the map is symmetric");
    assert!(lowest.ln().is_finite() && (1.0 - highest).ln().is_finite());
    let extreme = cpu::normal_pair_from([0, 0, 0, 0]);
    assert!(extreme.iter().all(|z| z.is_finite() && z.abs() < 6.0), "{extreme:?}");
}

#[test]
fn log_of_unit_is_accurate_next_to_one() {
    // Every 97th of the 2^23 values rng_unit can take, plus both ends.
    let words = (0..1u32 << 23).step_by(97).chain([0, (1 << 23) - 1]).map(|k| k << 9);
    for word in words {
        let u = cpu::unit(word);
        let exact = (u as f64).ln();
        let err = (cpu::log_unit(u) as f64 - exact).abs() / exact.abs();
        assert!(err < 4e-7, "ln({u}) relative error {err:.1e}");
    }
}

fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

/// Fills every size at its own offset of one buffer, in one submit, and checks the fills
/// against the CPU twin (`tolerance` for floats, 0 for bit for bit) and that nothing outside
/// them is touched.
fn assert_fills(distribution: Distribution, draw: RngDraw, tolerance: f32) {
    let case = rng::Case { distribution, sizes: SIZES.to_vec(), draw, tolerance };
    let check = rng::check(gpu(), &case).unwrap();
    assert!(check.passed, "{case:?}: {check}");
}

#[test]
fn fills_match_reference() {
    let draw = RngDraw::new(SEED, streams::FLOW_NOISE, 41);
    assert_fills(Distribution::Bits, draw, 0.0);
    // Uniforms are compared bit for bit: the map from words is exact in f32.
    assert_fills(Distribution::UNIT_UNIFORM, draw, 0.0);
    assert_fills(Distribution::STANDARD_NORMAL, draw, 1e-6);
    // 1 (only 0 possible), small, a prime, and a bound near 2^32 where rejection matters;
    // every index must also lie below its bound.
    for n in [1u32, 10, 257, 4_000_000_007] {
        assert_fills(Distribution::Index { n }, draw, 0.0);
    }
}

#[test]
fn scaled_fills_match_reference() {
    let draw = RngDraw::new(SEED, streams::INIT, 3);
    assert_fills(Distribution::Uniform { low: -0.25, high: 0.75 }, draw, 1e-6);
    assert_fills(Distribution::Normal { mean: 2.0, std: 0.5 }, draw, 1e-6);
}

/// The fill distributions the copy tests run through, with the CPU twin of each as raw words.
fn copy_distributions() -> [Distribution; 4] {
    [
        Distribution::Bits,
        Distribution::Uniform { low: -0.25, high: 0.75 },
        Distribution::Normal { mean: 2.0, std: 0.5 },
        Distribution::Index { n: 1000 },
    ]
}

/// Checks `words` (one block of a fill) against the CPU twin's `count` values for `draw`.
fn assert_fill_matches_reference(what: &str, distribution: Distribution, draw: RngDraw, words: &[u32]) {
    let count = words.len();
    match distribution {
        Distribution::Bits => assert_eq!(words, cpu::fill_bits(draw, count), "{what}"),
        Distribution::Uniform { low, high } => {
            assert_eq!(floats(words), cpu::fill_uniform(draw, count, high - low, low), "{what}")
        }
        Distribution::Normal { mean, std } => {
            assert_close(what, &floats(words), &cpu::fill_normal(draw, count, std, mean), 1e-6)
        }
        Distribution::Index { n } => assert_eq!(words, cpu::fill_indices(draw, count, n), "{what}"),
    }
}

#[test]
fn copy_draws_advance_the_seed_with_carry() {
    // The low word is all ones: copy 1 carries into the high word, as the u64 add does.
    let seed = 0x0000_0007_FFFF_FFFFu64;
    let draw = RngDraw::new(seed, streams::FLOW_NOISE, 9);
    assert_eq!(draw.for_copy(0), draw);
    assert_eq!((draw.for_copy(1).seed_lo, draw.for_copy(1).seed_hi), (0, 8));
    for c in 0..4u32 {
        assert_eq!(draw.for_copy(c), RngDraw::new(seed + c as u64, streams::FLOW_NOISE, 9), "copy {c}");
    }
    // The stream and call stay; the whole u64 wraps.
    assert_eq!(RngDraw::new(u64::MAX, 3, 5).for_copy(2), RngDraw::new(1, 3, 5));
}

/// Copies of a fill in one dispatch: block c must be what a plain fill with copy c's draw
/// writes (on the GPU bit for bit, and against the CPU twin), across a seed whose low word
/// carries into the high one.
#[test]
fn copy_fills_match_per_seed_fills() {
    let gpu = gpu();
    let (copies, copy_len, offset) = (3usize, 37usize, 5usize);
    let seed = 0x0000_0007_FFFF_FFFFu64;
    let total = copies * copy_len;
    // The copies' fill at `offset`, then each copy filled alone, then one untouched word.
    let alone_off = offset + total;
    let len = alone_off + total + 1;
    for distribution in copy_distributions() {
        let out = GpuBuffer::from_slice(gpu, "fill", &vec![0xDEAD_BEEFu32; len]).unwrap();
        let fill = RngFill::new(gpu, &out, distribution).unwrap();
        let mut rng = RngStream { calls: 9, ..RngStream::new(seed, streams::FLOW_NOISE) };
        let draw = rng.peek();
        let mut rec = Recorder::new(gpu);
        fill.record_copies(&mut rec, &mut rng, offset, copies, copy_len);
        for c in 0..copies {
            fill.record_draw(&mut rec, draw.for_copy(c as u32), alone_off + c * copy_len, copy_len);
        }
        rec.submit_and_wait().unwrap();
        assert_eq!(rng.calls, 10, "{distribution:?}: one draw taken for all copies");
        let words: Vec<u32> = out.read(gpu).unwrap();
        assert!(words[..offset].iter().all(|&w| w == 0xDEAD_BEEF), "{distribution:?}: wrote before the offset");
        assert_eq!(words[len - 1], 0xDEAD_BEEF, "{distribution:?}: wrote past the copies");
        let together = &words[offset..alone_off];
        let alone = &words[alone_off..alone_off + total];
        for c in 0..copies {
            let block = &together[c * copy_len..][..copy_len];
            let what = format!("{distribution:?}, copy {c} of {copies}×{copy_len}");
            assert_eq!(block, &alone[c * copy_len..][..copy_len], "{what}: against a plain fill with its draw");
            assert_fill_matches_reference(&what, distribution, draw.for_copy(c as u32), block);
            for other in 0..c {
                assert_ne!(block, &together[other * copy_len..][..copy_len], "{what}: same as copy {other}");
            }
        }
    }
}

#[test]
fn one_copy_fill_is_a_plain_fill() {
    let gpu = gpu();
    let (copy_len, offset) = (37usize, 3usize);
    for distribution in copy_distributions() {
        let out = GpuBuffer::from_slice(gpu, "fill", &vec![0xDEAD_BEEFu32; offset + 2 * copy_len]).unwrap();
        let fill = RngFill::new(gpu, &out, distribution).unwrap();
        let seed = 0x0000_0007_FFFF_FFFFu64;
        let (mut a, mut b) = (RngStream::new(seed, streams::MINIBATCH), RngStream::new(seed, streams::MINIBATCH));
        let mut rec = Recorder::new(gpu);
        fill.record_copies(&mut rec, &mut a, offset, 1, copy_len);
        fill.record(&mut rec, &mut b, offset + copy_len, copy_len);
        rec.submit_and_wait().unwrap();
        assert_eq!(a, b, "{distribution:?}: both take one draw");
        let words: Vec<u32> = out.read(gpu).unwrap();
        let what = format!("{distribution:?}, one copy of {copy_len}");
        assert_eq!(words[offset..offset + copy_len], words[offset + copy_len..], "{what}");
        assert_fill_matches_reference(
            &what,
            distribution,
            RngDraw::new(seed, streams::MINIBATCH, 0),
            &words[offset..offset + copy_len],
        );
    }
}

/// A draw filled in parts (the support sampler's chunks), for one copy and for copies, gives
/// exactly the values of one fill of the whole.
#[test]
fn a_draw_filled_in_parts_equals_one_fill() {
    let gpu = gpu();
    let (copies, len, split) = (3usize, 41usize, 17usize);
    let draw = RngDraw::new(0x0000_0002_FFFF_FFFF, streams::SUPPORT, 4);
    for distribution in copy_distributions() {
        let whole = GpuBuffer::from_slice(gpu, "whole", &vec![0u32; copies * len]).unwrap();
        let parts = GpuBuffer::from_slice(gpu, "parts", &vec![0u32; copies * len]).unwrap();
        let (fill_whole, fill_parts) =
            (RngFill::new(gpu, &whole, distribution).unwrap(), RngFill::new(gpu, &parts, distribution).unwrap());
        let mut rec = Recorder::new(gpu);
        fill_whole.record_part(&mut rec, draw, 0, copies, len, 0);
        // Each part lands in its own block of `parts`: first the elements 0..split of every
        // copy, then split..len.
        fill_parts.record_part(&mut rec, draw, 0, copies, split, 0);
        fill_parts.record_part(&mut rec, draw, copies * split, copies, len - split, split);
        rec.submit_and_wait().unwrap();
        let (whole, parts): (Vec<u32>, Vec<u32>) = (whole.read(gpu).unwrap(), parts.read(gpu).unwrap());
        for c in 0..copies {
            let what = format!("{distribution:?}, copy {c}");
            let own = &whole[c * len..(c + 1) * len];
            assert_eq!(own[..split], parts[c * split..(c + 1) * split], "{what}: first part");
            let rest = &parts[copies * split + c * (len - split)..][..len - split];
            assert_eq!(own[split..], *rest, "{what}: second part");
            assert_fill_matches_reference(&what, distribution, draw.for_copy(c as u32), own);
        }
    }
}

#[test]
fn rng_stream_hands_out_fresh_calls() {
    let mut rng = RngStream::new(SEED, streams::MINIBATCH);
    let first = rng.next_draw();
    let second = rng.next_draw();
    assert_eq!(first, RngDraw::new(SEED, streams::MINIBATCH, 0));
    assert_eq!(second.call, 1);
    assert_eq!(rng.peek().call, 2);
    assert_eq!((first.seed_lo, first.seed_hi), (0x1234_ABCD, 0x5EED_0000));
    // Resuming from the saved counter continues the same sequence.
    let mut resumed = RngStream { calls: 1, ..RngStream::new(SEED, streams::MINIBATCH) };
    assert_eq!(resumed.next_draw(), second);
}

#[test]
fn same_stream_twice_gives_the_same_numbers() {
    let gpu = gpu();
    let out = GpuBuffer::zeros(gpu, "out", 4 * 33).unwrap();
    let fill = RngFill::new(gpu, &out, Distribution::STANDARD_NORMAL).unwrap();
    let mut rec = Recorder::new(gpu);
    let (mut a, mut b) = (RngStream::new(SEED, streams::FLOW_NOISE), RngStream::new(SEED, streams::FLOW_NOISE));
    fill.record(&mut rec, &mut a, 0, 33);
    fill.record(&mut rec, &mut b, 33, 33);
    fill.record(&mut rec, &mut a, 66, 33); // a's second draw
    fill.record(&mut rec, &mut b, 99, 33);
    rec.submit_and_wait().unwrap();
    let v: Vec<f32> = out.read(gpu).unwrap();
    assert_eq!(v[..33], v[33..66], "same seed, stream and call");
    assert_eq!(v[66..99], v[99..], "same seed, stream and call");
    assert_ne!(v[..33], v[66..99], "consecutive calls differ");
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let mean = |x: &[f32]| x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb)).sum();
    let var = |x: &[f32], m: f64| x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>();
    cov / (var(a, ma) * var(b, mb)).sqrt()
}

#[test]
fn streams_calls_and_seeds_are_independent() {
    let n = 20_000;
    let base = RngDraw::new(SEED, streams::FLOW_NOISE, 5);
    let variants = [
        ("another stream", RngDraw { stream: streams::FLOW_TIME, ..base }),
        ("the next call", RngDraw { call: 6, ..base }),
        ("a seed one apart", RngDraw::new(SEED + 1, streams::FLOW_NOISE, 5)),
        ("a seed 2^32 apart", RngDraw::new(SEED + (1 << 32), streams::FLOW_NOISE, 5)),
    ];
    let gpu = gpu();
    let out = GpuBuffer::zeros(gpu, "out", n * (1 + variants.len())).unwrap();
    let fill = RngFill::new(gpu, &out, Distribution::UNIT_UNIFORM).unwrap();
    let mut rec = Recorder::new(gpu);
    fill.record_draw(&mut rec, base, 0, n);
    for (k, (_, draw)) in variants.iter().enumerate() {
        fill.record_draw(&mut rec, *draw, (k + 1) * n, n);
    }
    rec.submit_and_wait().unwrap();
    let v: Vec<f32> = out.read(gpu).unwrap();
    // Independent samples have correlation about N(0, 1/n): 5/sqrt(n) is a 5-sigma bound.
    let bound = 5.0 / (n as f64).sqrt();
    for (k, (what, _)) in variants.iter().enumerate() {
        let other = &v[(k + 1) * n..(k + 2) * n];
        let r = correlation(&v[..n], other);
        assert!(r.abs() < bound, "correlation with {what}: {r:.4} (bound {bound:.4})");
        let same = v[..n].iter().zip(other).filter(|(a, b)| a == b).count();
        assert!(same < 10, "{same} equal values with {what}");
    }
    // Neighbouring elements of one draw are independent too.
    let r = correlation(&v[..n - 1], &v[1..n]);
    assert!(r.abs() < bound, "lag-1 correlation {r:.4}");
}

/// `n` values of one distribution from the GPU, as f64.
fn sample(distribution: Distribution, stream: u32, n: usize) -> Vec<f64> {
    let gpu = gpu();
    let out = GpuBuffer::zeros(gpu, "sample", n).unwrap();
    let fill = RngFill::new(gpu, &out, distribution).unwrap();
    let mut rec = Recorder::new(gpu);
    fill.record(&mut rec, &mut RngStream::new(SEED, stream), 0, n);
    rec.submit_and_wait().unwrap();
    match distribution {
        Distribution::Bits | Distribution::Index { .. } => {
            out.read::<u32>(gpu).unwrap().into_iter().map(f64::from).collect()
        }
        _ => out.read::<f32>(gpu).unwrap().into_iter().map(f64::from).collect(),
    }
}

/// Mean and central moments 2 and 4.
fn moments(x: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    (mean, m2, m4)
}

#[test]
fn normal_moments() {
    let n = 100_000;
    let z = sample(Distribution::STANDARD_NORMAL, streams::POLICY_NOISE, n);
    let (mean, var, m4) = moments(&z);
    // Standard errors: mean 1/sqrt(n) = 0.0032, variance sqrt(2/n) = 0.0045, kurtosis
    // sqrt(24/n) = 0.015. The bounds are about five of them.
    assert!(mean.abs() < 0.016, "mean {mean}");
    assert!((var - 1.0).abs() < 0.025, "variance {var}");
    assert!((m4 / (var * var) - 3.0).abs() < 0.08, "kurtosis {}", m4 / (var * var));
    let tails = z.iter().filter(|v| v.abs() > 2.0).count() as f64 / n as f64;
    assert!((tails - 0.0455).abs() < 0.004, "P(|z| > 2) = {tails}");
}

#[test]
fn uniform_moments() {
    let n = 100_000;
    let u = sample(Distribution::UNIT_UNIFORM, streams::FLOW_TIME, n);
    assert!(u.iter().all(|&v| v > 0.0 && v < 1.0), "a uniform outside (0, 1)");
    let (mean, var, _) = moments(&u);
    // Standard errors 0.00091 and 0.00027.
    assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 0.0014, "variance {var}");
}

/// Pearson's chi-square statistic of counts against equal expected counts.
fn chi_square(counts: &[u64], total: usize) -> f64 {
    let expected = total as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
}

#[test]
fn indices_pass_chi_square() {
    let draws = 100_000;
    for n in [37u32, 1000] {
        let x = sample(Distribution::Index { n }, streams::MINIBATCH, draws);
        let mut counts = vec![0u64; n as usize];
        for &i in &x {
            counts[i as usize] += 1;
        }
        // Chi-square with k = n - 1 degrees of freedom: mean k, sd sqrt(2k); 6 sd is p < 1e-6.
        let k = (n - 1) as f64;
        let stat = chi_square(&counts, draws);
        assert!(stat < k + 6.0 * (2.0 * k).sqrt(), "n = {n}: chi-square {stat:.1} with {k} degrees of freedom");
    }
}

#[test]
fn index_rejection_removes_bias() {
    // For n = 3·2^30 the plain multiply-high maps two words to every result divisible by 3 and
    // one word to the others: those results would make up half the draws instead of a third.
    let n = 3u32 << 30;
    let draws = 30_000;
    let x = sample(Distribution::Index { n }, streams::MINIBATCH, draws);
    let share = x.iter().filter(|&&v| (v as u64).is_multiple_of(3)).count() as f64 / draws as f64;
    // Standard error sqrt(2/9 / draws) = 0.0027.
    assert!((share - 1.0 / 3.0).abs() < 0.015, "share of multiples of 3: {share}");
}

#[test]
fn wgsl_stream_ids_match_rust() {
    let source = RNG.1;
    for (name, id) in streams::ALL {
        let line = source
            .lines()
            .find(|l| l.starts_with(&format!("const {name}: u32 =")))
            .unwrap_or_else(|| panic!("{name} missing"));
        let value = line.split('=').nth(1).unwrap().split(';').next().unwrap().trim().trim_end_matches('u');
        assert_eq!(value.parse::<u32>().unwrap(), id, "{name}");
    }
    let mut ids: Vec<u32> = streams::ALL.iter().map(|s| s.1).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), streams::ALL.len(), "stream ids must be distinct");
}

#[test]
fn invalid_distributions_are_errors() {
    let gpu = gpu();
    let out = GpuBuffer::zeros(gpu, "out", 4).unwrap();
    for bad in [
        Distribution::Index { n: 0 },
        Distribution::Uniform { low: 1.0, high: 0.0 },
        Distribution::Normal { mean: 0.0, std: -1.0 },
        Distribution::Normal { mean: f32::NAN, std: 1.0 },
    ] {
        assert!(RngFill::new(gpu, &out, bad).is_err(), "{bad:?} accepted");
    }
}

/// A grid of settings per seed: with `copies_per_seed` consecutive copies sharing a seed,
/// block c is the plain fill with seed c / copies_per_seed's draw (`RngDraw::for_seed_copy`).
#[test]
fn copies_of_one_seed_fill_that_seeds_numbers() {
    let gpu = gpu();
    let (copies, per_seed, copy_len) = (6usize, 3usize, 19usize);
    let draw = RngDraw::new(0x0000_0003_FFFF_FFFF, streams::SUPPORT, 4);
    for distribution in copy_distributions() {
        let out = GpuBuffer::zeros(gpu, "fill", 2 * copies * copy_len).unwrap();
        let fill = RngFill::new(gpu, &out, distribution).unwrap().with_copies_per_seed(per_seed);
        let alone = RngFill::new(gpu, &out, distribution).unwrap();
        let mut rec = Recorder::new(gpu);
        fill.record_part(&mut rec, draw, 0, copies, copy_len, 0);
        for c in 0..copies {
            let own = draw.for_seed_copy(c as u32, per_seed as u32);
            alone.record_draw(&mut rec, own, (copies + c) * copy_len, copy_len);
        }
        rec.submit_and_wait().unwrap();
        let words: Vec<u32> = out.read(gpu).unwrap();
        let (together, alone) = words.split_at(copies * copy_len);
        assert_eq!(together, alone, "{distribution:?}: each copy fills its seed's numbers");
        let block = |c: usize| &together[c * copy_len..][..copy_len];
        assert_eq!(block(0), block(per_seed - 1), "{distribution:?}: one seed's copies draw alike");
        assert_ne!(block(0), block(per_seed), "{distribution:?}: the next seed draws its own");
        assert_eq!(draw.for_seed_copy(4, 3), draw.for_copy(1));
    }
}
