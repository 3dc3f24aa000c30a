//! Flow matching on the GPU: the velocity network, energy-weighted flow-matching (EFM)
//! training, and the batched Euler sampler (ALGORITHM.md sections 2 and 3).
//!
//! - [`velocity`]: v(x_t, t [, cond]) = MLP([x_t, Fourier(t), cond]), and a pass that embeds
//!   and runs it on a batch.
//! - [`efm`]: training on a table of points with energies: minibatch, pairs, weights, loss,
//!   backward and Adam, all recorded on the GPU.
//! - [`sampler`]: x0 ~ N(0, I) integrated to t = 1 with N Euler steps, many samples at once.
//! - [`row_sampler`]: the same for a few samples in one dispatch (evaluation's actions).

pub mod efm;
pub mod row_sampler;
pub mod sampler;
pub mod velocity;

pub use efm::{EfmConfig, EfmTrainer};
pub use row_sampler::{ActionSampler, RowSampler};
pub use sampler::EulerSampler;
pub use velocity::{Architecture, VelocityNet, VelocityPass, VelocitySpec};
