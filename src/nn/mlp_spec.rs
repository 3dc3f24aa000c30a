//! The shape of an MLP and where its layers live in the flat parameter buffer.

use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::init::init_linear_layers;
use crate::ops::LayerShape;

/// The shape of an MLP: `input → hidden[0] → … → output`, with `activation` after every
/// hidden layer and none after the output layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpSpec {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub output: usize,
    pub activation: Activation,
}

impl MlpSpec {
    pub fn new(input: usize, hidden: &[usize], output: usize, activation: Activation) -> Self {
        Self { input, hidden: hidden.to_vec(), output, activation }
    }

    /// Where each layer's weight and bias live in the flat parameter buffer.
    pub fn layers(&self) -> Vec<LayerShape> {
        let widths: Vec<usize> =
            std::iter::once(self.input).chain(self.hidden.iter().copied()).chain([self.output]).collect();
        let mut offset = 0;
        widths
            .windows(2)
            .map(|w| {
                let layer =
                    LayerShape { in_dim: w[0], out_dim: w[1], weight_off: offset, bias_off: offset + w[0] * w[1] };
                offset = layer.bias_off + w[1];
                layer
            })
            .collect()
    }

    /// The activation after layer `index`.
    pub fn activation_of(&self, index: usize) -> Activation {
        if index == self.hidden.len() {
            Activation::Identity
        } else {
            self.activation
        }
    }

    /// [`Self::param_count`], or `None` when it does not fit in a `usize` (absurd widths),
    /// for checking sizes before anything is allocated.
    pub fn checked_param_count(&self) -> Option<usize> {
        let widths: Vec<usize> =
            std::iter::once(self.input).chain(self.hidden.iter().copied()).chain([self.output]).collect();
        widths.windows(2).try_fold(0usize, |total, w| w[0].checked_mul(w[1])?.checked_add(w[1])?.checked_add(total))
    }

    pub fn param_count(&self) -> usize {
        self.layers().last().map(|l| l.bias_off + l.out_dim).unwrap_or(0)
    }

    /// Multiply-adds of one forward pass per row.
    pub fn flops_per_row(&self) -> usize {
        self.layers().iter().map(|l| 2 * l.in_dim * l.out_dim).sum()
    }

    /// PyTorch's default initialisation of `nn.Linear`: W and b uniform in ±1/√fan_in.
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
        init_linear_layers(&self.layers(), self.param_count(), seed)
    }
}
