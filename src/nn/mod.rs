//! Neural networks on the GPU: the MLP and QGPO's residual network (each one flat parameter
//! buffer, forward and backward recorded into an encoder).

pub mod activation;
pub mod mlp;
pub mod resnet;

pub use activation::Activation;
pub use mlp::{CopyInput, Mlp, MlpPass, MlpSpec};
pub use resnet::{ResNet, ResNetPass, ResNetSpec};
