//! CPU twin of shaders/common/activations.wgsl.

use crate::nn::activation::Activation;

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// log(1 + e^z) without overflow for large z.
pub fn softplus(z: f32) -> f32 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

pub fn activate(z: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Silu => z * sigmoid(z),
        Activation::Mish => z * softplus(z).tanh(),
    }
}

/// d activate(z) / dz.
pub fn activate_grad(z: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Silu => {
            let s = sigmoid(z);
            s * (1.0 + z * (1.0 - s))
        }
        Activation::Mish => {
            let t = softplus(z).tanh();
            t + z * (1.0 - t * t) * sigmoid(z)
        }
    }
}
