//! Flow matching on the GPU: the velocity network, energy-weighted flow-matching (EFM)
//! training, and the batched Euler sampler (ALGORITHM.md sections 2 and 3).
//!
//! - [`velocity`]: v(x_t, t [, cond]) = network([x_t, Fourier(t), cond]) (an MLP or QGPO's
//!   residual network), and a pass that embeds and runs it on a batch.
//! - [`weighted`]: one weighted flow-matching step on a gathered batch: pairs, loss, backward
//!   and Adam, all recorded on the GPU; what EFM and policy improvement share.
//! - [`efm`]: training on a table of points with energies: a minibatch and its weights, then
//!   the weighted step.
//! - [`sampler`]: x0 ~ N(0, I) integrated to t = 1 with N Euler steps, many samples at once.
//! - [`row_sampler`]: the same for a few samples in one dispatch (evaluation's actions).
//! - [`spec`]: the network's shape and the training settings, with no GPU in them.

pub mod efm;
pub mod row_sampler;
pub mod sampler;
pub mod spec;
pub mod velocity;
pub mod weighted;

pub use efm::EfmTrainer;
pub use row_sampler::{ActionSampler, RowSampler};
pub use sampler::EulerSampler;
pub use spec::{Architecture, EfmConfig, VelocitySpec};
pub use velocity::{Purpose, VelocityInputs, VelocityNet, VelocityPass};
