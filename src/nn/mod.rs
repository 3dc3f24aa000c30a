//! Neural networks on the GPU: the MLP and QGPO's residual network (each one flat parameter
//! buffer, forward and backward recorded into an encoder).

pub mod activation;
pub mod mlp;
pub mod resnet;

pub use activation::Activation;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kernels::linear::LayerShape;

/// PyTorch's default initialisation of `nn.Linear`, for every layer of a flat buffer of
/// `param_count` parameters: W and b uniform in ±1/√fan_in, layer after layer from `seed`.
pub fn init_linear_layers(layers: &[LayerShape], param_count: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = vec![0.0f32; param_count];
    for layer in layers {
        let bound = 1.0 / (layer.in_dim as f32).sqrt();
        for p in &mut params[layer.weight_off..layer.bias_off + layer.out_dim] {
            *p = rng.random_range(-bound..bound);
        }
    }
    params
}
pub use mlp::{CopyInput, Mlp, MlpPass, MlpSpec};
pub use resnet::{ResNet, ResNetPass, ResNetSpec};
