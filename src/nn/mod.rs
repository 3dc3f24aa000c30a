//! Neural networks on the GPU: the MLP and QGPO's residual network (each one flat parameter
//! buffer, forward and backward recorded into an encoder).
//!
//! Their shapes ([`mlp_spec`], [`resnet_spec`]), [`activation`]s and [`init`]ialisation
//! hold no GPU code: the CPU reference builds the same networks from them.

pub mod activation;
pub mod init;
pub mod mlp;
pub mod mlp_spec;
pub mod resnet;
pub mod resnet_spec;

pub use activation::Activation;
pub use init::init_linear_layers;

pub use mlp::{CopyInput, Mlp, MlpPass};
pub use mlp_spec::MlpSpec;
pub use resnet::{ResNet, ResNetPass};
pub use resnet_spec::ResNetSpec;
