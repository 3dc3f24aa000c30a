//! PyTorch's default initialisation of linear layers in a flat parameter buffer.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ops::LayerShape;

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
