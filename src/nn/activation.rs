//! The activation functions a layer can apply after its matrix product.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    /// x·sigmoid(x), also called swish.
    Silu,
    /// x·tanh(softplus(x)).
    Mish,
}

impl Activation {
    /// The code the kernels use (shaders/common/activations.wgsl).
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Silu => 2,
            Activation::Mish => 3,
        }
    }

    pub const ALL: [Activation; 4] = [Activation::Identity, Activation::Relu, Activation::Silu, Activation::Mish];
}
