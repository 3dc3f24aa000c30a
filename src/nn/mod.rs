//! Neural networks on the GPU: the MLP (one flat parameter buffer, forward and backward
//! recorded into an encoder) and its optimiser.

pub mod activation;
pub mod mlp;

pub use activation::Activation;
pub use mlp::{CopyInput, Mlp, MlpPass, MlpSpec};
