//! The random streams of policy improvement, shared by the GPU improver and its CPU twin.

use crate::random::{streams, RngStream};

/// The random streams of policy improvement: minibatch indices, flow noise, flow times and
/// the support sampler's starting noise.
pub struct ImproveRng {
    pub minibatch: RngStream,
    pub noise: RngStream,
    pub time: RngStream,
    pub support: RngStream,
}

impl ImproveRng {
    pub fn new(seed: u64) -> Self {
        Self {
            minibatch: RngStream::new(seed, streams::MINIBATCH),
            noise: RngStream::new(seed, streams::FLOW_NOISE),
            time: RngStream::new(seed, streams::FLOW_TIME),
            support: RngStream::new(seed, streams::SUPPORT),
        }
    }

    /// The streams with their checkpoint names.
    pub fn named(&self) -> [(&'static str, &RngStream); 4] {
        [("minibatch", &self.minibatch), ("noise", &self.noise), ("time", &self.time), ("support", &self.support)]
    }

    pub fn named_mut(&mut self) -> [(&'static str, &mut RngStream); 4] {
        let Self { minibatch, noise, time, support } = self;
        [("minibatch", minibatch), ("noise", noise), ("time", time), ("support", support)]
    }
}
