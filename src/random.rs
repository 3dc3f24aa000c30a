//! The counters of the counter-based random numbers (Philox4x32-10 in
//! `shaders/common/rng.wgsl`, and its CPU twin in [`crate::reference::rng`]).
//!
//! Every number is a pure function of (seed, stream, call, element index). The host hands out
//! the call counters ([`RngStream`]), so the whole random sequence of a run is fixed by its
//! seed and the order of the record calls, and nothing is ever read back to advance a state.
//! No GPU types here: the kernels, the CPU reference and checkpoints share these.

/// The stream ids: one independent stream of numbers per purpose. They match the
/// `RNG_STREAM_*` constants of shaders/common/rng.wgsl; a new purpose takes the next number.
pub mod streams {
    /// Ad hoc draws (tools, tests).
    pub const GENERAL: u32 = 0;
    /// Minibatch indices into the dataset.
    pub const MINIBATCH: u32 = 1;
    /// Flow-matching source noise x0.
    pub const FLOW_NOISE: u32 = 2;
    /// Flow-matching times t.
    pub const FLOW_TIME: u32 = 3;
    /// Starting noise of the support-action sampler.
    pub const SUPPORT: u32 = 4;
    /// Starting noise of evaluation and toy sampling.
    pub const POLICY_NOISE: u32 = 5;
    /// Network initialisation.
    pub const INIT: u32 = 6;

    /// Every stream with its WGSL name, for the test that keeps both sides in step.
    pub const ALL: [(&str, u32); 7] = [
        ("RNG_STREAM_GENERAL", GENERAL),
        ("RNG_STREAM_MINIBATCH", MINIBATCH),
        ("RNG_STREAM_FLOW_NOISE", FLOW_NOISE),
        ("RNG_STREAM_FLOW_TIME", FLOW_TIME),
        ("RNG_STREAM_SUPPORT", SUPPORT),
        ("RNG_STREAM_POLICY_NOISE", POLICY_NOISE),
        ("RNG_STREAM_INIT", INIT),
    ];
}

/// The counter words of one draw (`struct RngDraw` in shaders/common/rng.wgsl). Kernels that
/// draw numbers inline carry one in their immediates.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RngDraw {
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub stream: u32,
    pub call: u32,
}

impl RngDraw {
    pub fn new(seed: u64, stream: u32, call: u32) -> Self {
        Self { seed_lo: seed as u32, seed_hi: (seed >> 32) as u32, stream, call }
    }

    /// The draw copy `copy` of a network makes in a dispatch over copies (`rng_copy_draw` in
    /// shaders/common/rng.wgsl): the seed advanced by `copy`, as a run with that seed draws.
    pub fn for_copy(&self, copy: u32) -> Self {
        let seed = (self.seed_lo as u64 | (self.seed_hi as u64) << 32).wrapping_add(copy as u64);
        Self::new(seed, self.stream, self.call)
    }

    /// The draw of copy `copy` when each seed trains `copies_per_seed` consecutive copies
    /// (`rng_seed_copy_draw`): its seed's, so every setting of a seed draws what the seed's
    /// run alone draws.
    pub fn for_seed_copy(&self, copy: u32, copies_per_seed: u32) -> Self {
        self.for_copy(copy / copies_per_seed.max(1))
    }
}

/// One stream of draws: a seed, a purpose, and how many draws were handed out so far.
///
/// Each record call that draws numbers takes a fresh draw from its stream with
/// [`RngStream::next_draw`], so no two calls ever see the same numbers. The state is three
/// plain numbers: save `calls` with a checkpoint to resume the exact sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStream {
    pub seed: u64,
    pub stream: u32,
    /// Draws handed out so far: the call counter of the next draw.
    pub calls: u32,
}

impl RngStream {
    pub fn new(seed: u64, stream: u32) -> Self {
        Self { seed, stream, calls: 0 }
    }

    /// The next draw; advances the call counter (wrapping after 2^32 draws).
    pub fn next_draw(&mut self) -> RngDraw {
        let draw = self.peek();
        self.calls = self.calls.wrapping_add(1);
        draw
    }

    /// The draw `next_draw` would return, without advancing.
    pub fn peek(&self) -> RngDraw {
        RngDraw::new(self.seed, self.stream, self.calls)
    }
}

/// 2^64 / φ, SplitMix64's increment: seeds offset by different multiples of it lie far apart.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// `seed` moved `k` golden steps on. Additive, so `offset_seed(seed + c, k)` is
/// `offset_seed(seed, k) + c`: copy c of a multi-seed run derives what a run of seed + c does.
pub fn offset_seed(seed: u64, k: u64) -> u64 {
    seed.wrapping_add(k.wrapping_mul(GOLDEN_GAMMA))
}

/// SplitMix64: `seed` moved `k` golden steps on, then scrambled, so nearby inputs give
/// unrelated seeds.
pub fn mixed_seed(seed: u64, k: u64) -> u64 {
    let mut z = offset_seed(seed, k);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs resume and are compared bit for bit: the derived seeds must never change.
    #[test]
    fn derived_seeds_are_fixed() {
        assert_eq!(mixed_seed(0, 1), 0xE220_A839_7B1D_CDAF, "SplitMix64's first output from 0");
        assert_eq!(mixed_seed(42, 8), 0xCCF6_35EE_9E9E_2FA4);
        assert_eq!(offset_seed(42, 3), 0xDAA6_6D2C_7DDF_7469);
        assert_eq!(offset_seed(u64::MAX, 2), 0x3C6E_F372_FE94_F829);
        assert_eq!(offset_seed(7 + 2, 5), offset_seed(7, 5) + 2);
    }
}
