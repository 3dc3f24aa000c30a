// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011), the generator of Random123 and cuRAND.
//
// A counter-based generator keeps no state: the numbers for element `index` of one draw are
// a pure function of (key, counter). Any kernel can therefore draw its noise inline, in any
// order and on any number of invocations. The same seed gives the same words, uniforms and
// indices on every device (normals differ only by the device's log, sin and cos). The host
// advances the per-draw `call` counter itself (qipo::random::RngStream), so it never
// needs to read anything back.
//
//     key     = (seed_lo, seed_hi)            the 64-bit run seed
//     counter = (index, call, stream, 0)      element, draw number, purpose
//
// Each (index, call, stream) gives one block of four 32-bit words. Every element uses its own
// block, so a kernel drawing one number per element asks for `rng_uniform(draw, element)` and
// gets the same value the fill kernels in rng.wgsl would write for that element.
//
// Include this file before a kernel that draws numbers; put an `RngDraw` in its immediates.
// The CPU twin is qipo::reference::rng (bit-identical words, uniforms and indices).

// One independent stream per purpose: numbers drawn for one purpose never repeat those of
// another, however many draws each makes. The values match qipo::random::streams.
const RNG_STREAM_GENERAL: u32 = 0u;       // ad hoc draws (tools, tests)
const RNG_STREAM_MINIBATCH: u32 = 1u;     // minibatch indices into the dataset
const RNG_STREAM_FLOW_NOISE: u32 = 2u;    // flow-matching source noise x0
const RNG_STREAM_FLOW_TIME: u32 = 3u;     // flow-matching times t
const RNG_STREAM_SUPPORT: u32 = 4u;       // starting noise of the support-action sampler
const RNG_STREAM_POLICY_NOISE: u32 = 5u;  // starting noise of evaluation and toy sampling
const RNG_STREAM_INIT: u32 = 6u;          // network initialisation

// The counter words of one draw, carried in a kernel's immediates (16 bytes; the Rust twin is
// qipo::random::RngDraw).
struct RngDraw {
    seed_lo: u32,
    seed_hi: u32,
    stream: u32,
    call: u32,
}

// The draw of copy `copy` of a network trained as several seeds at once: the same draw with
// the seed advanced by `copy`, so copy c draws exactly what a run with seed + c would.
fn rng_copy_draw(draw: RngDraw, copy: u32) -> RngDraw {
    let lo = draw.seed_lo + copy;
    let carry = select(0u, 1u, lo < copy);
    return RngDraw(lo, draw.seed_hi + carry, draw.stream, draw.call);
}

// The draw of copy `copy` when each seed trains `copies_per_seed` consecutive copies (a grid of
// settings, such as several β, per seed): all of a seed's copies draw what that seed's run
// alone draws, so copy c is seed c / copies_per_seed's run with its own setting. 0 or 1: one
// copy per seed.
fn rng_seed_copy_draw(draw: RngDraw, copy: u32, copies_per_seed: u32) -> RngDraw {
    return rng_copy_draw(draw, copy / max(copies_per_seed, 1u));
}

// Philox4x32 constants: the round multipliers and the Weyl sequence that bumps the key.
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// The high 32 bits of the 64-bit product a·b. WGSL has no 64-bit integers, so the product is
// assembled from four 16×16-bit partial products, none of which can overflow 32 bits.
fn mul_hi_u32(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    // Bits 16..47 of the product: at most (2^16 - 1)^2 + 2·(2^16 - 1) = 2^32 - 1, no overflow.
    let middle = (lo_lo >> 16u) + (hi_lo & 0xFFFFu) + lo_hi;
    return hi_hi + (hi_lo >> 16u) + (middle >> 16u);
}

fn philox_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let hi0 = mul_hi_u32(PHILOX_M0, ctr.x);
    let lo0 = PHILOX_M0 * ctr.x;
    let hi1 = mul_hi_u32(PHILOX_M1, ctr.z);
    let lo1 = PHILOX_M1 * ctr.z;
    return vec4<u32>(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
}

// Ten rounds, bumping the key between rounds (Random123's philox4x32_R(10, ...)).
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var ctr = philox_round(counter, key);
    var k = key;
    for (var round = 1u; round < 10u; round += 1u) {
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
        ctr = philox_round(ctr, k);
    }
    return ctr;
}

// The four random words of element `index` of a draw.
fn rng_words(draw: RngDraw, index: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(index, draw.call, draw.stream, 0u), vec2<u32>(draw.seed_lo, draw.seed_hi));
}

// A word mapped to (0, 1), never 0 or 1, so log(u) and log(1 - u) are always finite.
// The high 23 bits pick one of 2^23 equal cells of [0, 1) and u is the cell's midpoint, an
// odd multiple of 2^-24 in [2^-24, 1 - 2^-24]: exact in f32 (24 significant bits), spaced
// 2^-23 apart, and symmetric (u and 1 - u are equally likely). Midpoints of 2^24 cells would
// need 25 significant bits, and rounding them would put some at exactly 1.
fn rng_unit(word: u32) -> f32 {
    return (f32(word >> 9u) + 0.5) * 0x1p-23f;
}

// Uniform in (0, 1) for element `index`.
fn rng_uniform(draw: RngDraw, index: u32) -> f32 {
    return rng_unit(rng_words(draw, index).x);
}

// ln(u) for u in (0, 1), accurate relative to ln(u) itself even next to 1. GPU log
// functions promise only an absolute error there (WGSL allows 2^-21), which for u = 1 - 2^-20
// is a 10% error in ln(u) and so in the small Box-Muller radii built from it. Above 1/2 this
// uses ln(u) = 2·atanh(s) with s = (u - 1) / (u + 1), where u - 1 is exact and |s| <= 1/3,
// summed as 2s·(1 + s²/3 + s⁴/5 + ...) until the terms fall below f32 precision.
fn rng_log_unit(u: f32) -> f32 {
    if u < 0.5 {
        return log(u);
    }
    let s = (u - 1.0) / (u + 1.0);
    let q = s * s;
    let series = 1.0 + q * (1.0 / 3.0 + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0
        + q * (1.0 / 11.0 + q * (1.0 / 13.0 + q * (1.0 / 15.0)))))));
    return 2.0 * s * series;
}

// Two independent standard normals from the first two words of a block, by Box-Muller.
// The angle lies in (-π, π), where GPUs evaluate sin and cos most accurately.
fn rng_normal_pair_from(words: vec4<u32>) -> vec2<f32> {
    let radius = sqrt(-2.0 * rng_log_unit(rng_unit(words.x)));
    let angle = 3.14159265358979 * (2.0 * rng_unit(words.y) - 1.0);
    return radius * vec2<f32>(cos(angle), sin(angle));
}

// A standard normal for element `index` (the first of the Box-Muller pair).
fn rng_normal(draw: RngDraw, index: u32) -> f32 {
    return rng_normal_pair_from(rng_words(draw, index)).x;
}

// Two independent standard normals for element `index`, for kernels that want pairs.
fn rng_normal_pair(draw: RngDraw, index: u32) -> vec2<f32> {
    return rng_normal_pair_from(rng_words(draw, index));
}

// An integer uniform in [0, n) from a block of words, by Lemire's multiply-high method
// ("Fast random integer generation in an interval", 2019): the high word of word·n.
// Taken alone that favours some results by up to n / 2^32; rejecting low words below
// 2^32 mod n removes the bias. A rejected word is replaced by the block's next one, and the
// fourth word is accepted whatever it is (reached with probability below (n / 2^32)^3).
// n = 0 has no valid result and gives 0.
fn rng_below_from(words: vec4<u32>, n: u32) -> u32 {
    if n == 0u {
        return 0u;
    }
    let threshold = (0u - n) % n;  // 2^32 mod n
    var w = words;
    for (var i = 0u; i < 3u; i += 1u) {
        if w[i] * n >= threshold {
            return mul_hi_u32(w[i], n);
        }
    }
    return mul_hi_u32(w[3], n);
}

// An integer uniform in [0, n) for element `index`.
fn rng_index(draw: RngDraw, index: u32, n: u32) -> u32 {
    return rng_below_from(rng_words(draw, index), n);
}
