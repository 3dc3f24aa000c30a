//! The velocity network's shape and the flow-matching trainer's settings, with no GPU in
//! them: the CPU reference builds and trains the same networks from these.

use serde::{Deserialize, Serialize};

use crate::nn::activation::Activation;
use crate::nn::init::init_linear_layers;
use crate::nn::mlp_spec::MlpSpec;
use crate::nn::resnet_spec::ResNetSpec;
use crate::ops::{AdamConfig, LayerShape};

/// Which network maps the embedded rows [x_t | features of t | cond] to velocities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Architecture {
    /// An MLP with `hidden` layers.
    #[default]
    Mlp,
    /// QGPO's residual U-shaped network, `hidden` its down path's widths, with a state
    /// encoding `cond_width` wide and a time-and-state embedding `embed_width` wide.
    Resnet { cond_width: usize, embed_width: usize },
}

/// The shape of a velocity network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VelocitySpec {
    /// Coordinates of x (the action dimension for a policy).
    pub dim: usize,
    /// Width of the conditioning input (the state for a policy; 0 when unconditional).
    pub cond_dim: usize,
    /// Number of Fourier features of t (a sine and a cosine per frequency).
    pub time_features: usize,
    /// Standard deviation of the Fourier frequencies.
    pub time_scale: f32,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Absent from checkpoints written before the residual network existed: an MLP.
    #[serde(default)]
    pub architecture: Architecture,
}

impl VelocitySpec {
    /// The MLP of an [`Architecture::Mlp`] network.
    pub fn mlp(&self) -> MlpSpec {
        MlpSpec::new(self.dim + self.time_features + self.cond_dim, &self.hidden, self.dim, self.activation)
    }

    /// The residual network of an [`Architecture::Resnet`] network, `None` for an MLP.
    pub fn resnet(&self) -> Option<ResNetSpec> {
        match self.architecture {
            Architecture::Mlp => None,
            Architecture::Resnet { cond_width, embed_width } => Some(ResNetSpec {
                x_dim: self.dim,
                time_features: self.time_features,
                cond_dim: self.cond_dim,
                widths: self.hidden.clone(),
                cond_width,
                embed_width,
                activation: self.activation,
            }),
        }
    }

    /// Parameters of one network, or `None` when the count does not fit in a `usize`
    /// (absurd widths), for checking sizes before anything is allocated.
    pub fn checked_param_count(&self) -> Option<usize> {
        match self.resnet() {
            None => self.mlp().checked_param_count(),
            Some(spec) => spec.checked_param_count(),
        }
    }

    /// Every linear layer of either network, in the parameter buffer's order.
    pub fn layers(&self) -> Vec<LayerShape> {
        match self.resnet() {
            None => self.mlp().layers(),
            Some(spec) => spec.layout().layers(),
        }
    }

    pub fn param_count(&self) -> usize {
        self.layers().last().map_or(0, |l| l.bias_off + l.out_dim)
    }

    /// The widest row of any buffer a pass keeps (every layer's input and output), in values:
    /// what bounds how many rows one binding can hold.
    pub fn widest_row(&self) -> usize {
        let input = self.dim + self.time_features + self.cond_dim;
        self.layers().iter().map(|l| l.in_dim.max(l.out_dim)).fold(input, usize::max)
    }

    /// PyTorch's default initialisation of every linear layer, from `seed`.
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
        init_linear_layers(&self.layers(), self.param_count(), seed)
    }
}

/// The settings of energy-weighted flow-matching training ([`super::EfmTrainer`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EfmConfig {
    /// Pairs per step.
    pub batch: usize,
    /// Guidance strength: weights ∝ exp(-beta·E).
    pub beta: f32,
    /// Rows sharing one softmax normaliser; 0 means the whole batch.
    pub group: usize,
    pub adam: AdamConfig,
}
