//! CPU twin of shaders/common/rng.wgsl and shaders/rng.wgsl: Philox4x32-10 and the maps from
//! its words to uniforms, normals and bounded integers.
//!
//! Words, uniforms and indices are bit-identical to the GPU's; normals agree to the accuracy
//! of the device's log, sin and cos (about 1e-6).

use crate::random::RngDraw;

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// The high 32 bits of the 64-bit product a·b.
pub fn mul_hi_u32(a: u32, b: u32) -> u32 {
    ((a as u64 * b as u64) >> 32) as u32
}

fn philox_round(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let hi0 = mul_hi_u32(PHILOX_M0, ctr[0]);
    let lo0 = PHILOX_M0.wrapping_mul(ctr[0]);
    let hi1 = mul_hi_u32(PHILOX_M1, ctr[2]);
    let lo1 = PHILOX_M1.wrapping_mul(ctr[2]);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// Philox4x32 with ten rounds, as in Random123's `philox4x32_R(10, counter, key)`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut ctr = philox_round(counter, key);
    let mut k = key;
    for _ in 1..10 {
        k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        ctr = philox_round(ctr, k);
    }
    ctr
}

/// The four words of element `index` of a draw: counter (index, call, stream, 0), key = seed.
pub fn words(draw: RngDraw, index: u32) -> [u32; 4] {
    philox4x32_10([index, draw.call, draw.stream, 0], [draw.seed_lo, draw.seed_hi])
}

/// A word mapped to the midpoint of one of 2^23 equal cells of [0, 1): never 0 or 1.
pub fn unit(word: u32) -> f32 {
    ((word >> 9) as f32 + 0.5) * (1.0 / (1u32 << 23) as f32)
}

/// ln(u) for u in (0, 1), accurate relative to ln(u) even next to 1: the built-in log below
/// 1/2, above it 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + ...) with s = (u - 1) / (u + 1).
pub fn log_unit(u: f32) -> f32 {
    if u < 0.5 {
        return u.ln();
    }
    let s = (u - 1.0) / (u + 1.0);
    let q = s * s;
    let series = 1.0
        + q * (1.0 / 3.0
            + q * (1.0 / 5.0
                + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q * (1.0 / 13.0 + q * (1.0 / 15.0)))))));
    2.0 * s * series
}

/// Two standard normals from the first two words of a block (Box-Muller).
pub fn normal_pair_from(words: [u32; 4]) -> [f32; 2] {
    let radius = (-2.0 * log_unit(unit(words[0]))).sqrt();
    let angle = std::f32::consts::PI * (2.0 * unit(words[1]) - 1.0);
    [radius * angle.cos(), radius * angle.sin()]
}

/// An integer uniform in [0, n) by Lemire's multiply-high method with rejection, trying the
/// block's words in order and accepting the last; 0 when n = 0.
pub fn below_from(words: [u32; 4], n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n; // 2^32 mod n
    let accepted = words[..3].iter().find(|&&w| w.wrapping_mul(n) >= threshold).copied();
    mul_hi_u32(accepted.unwrap_or(words[3]), n)
}

pub fn uniform(draw: RngDraw, index: u32) -> f32 {
    unit(words(draw, index)[0])
}

pub fn normal(draw: RngDraw, index: u32) -> f32 {
    normal_pair_from(words(draw, index))[0]
}

pub fn normal_pair(draw: RngDraw, index: u32) -> [f32; 2] {
    normal_pair_from(words(draw, index))
}

pub fn index_below(draw: RngDraw, index: u32, n: u32) -> u32 {
    below_from(words(draw, index), n)
}

/// What `fill_bits` writes: the first word of each element's block.
pub fn fill_bits(draw: RngDraw, count: usize) -> Vec<u32> {
    (0..count as u32).map(|i| words(draw, i)[0]).collect()
}

/// What `fill_uniform` writes: shift + scale·u.
pub fn fill_uniform(draw: RngDraw, count: usize, scale: f32, shift: f32) -> Vec<f32> {
    (0..count as u32).map(|i| shift + scale * uniform(draw, i)).collect()
}

/// What `fill_normal` writes: shift + scale·z.
pub fn fill_normal(draw: RngDraw, count: usize, scale: f32, shift: f32) -> Vec<f32> {
    (0..count as u32).map(|i| shift + scale * normal(draw, i)).collect()
}

/// What `fill_indices` writes: integers in [0, n).
pub fn fill_indices(draw: RngDraw, count: usize, n: u32) -> Vec<u32> {
    (0..count as u32).map(|i| index_below(draw, i, n)).collect()
}
