//! The shape of QGPO's residual velocity network ([`super::resnet`]) and where its layers
//! live in the flat parameter buffer.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::init::init_linear_layers;
use crate::ops::LayerShape;

/// The shape of a residual velocity network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNetSpec {
    /// Coordinates of x: the output's width too.
    pub x_dim: usize,
    /// Fourier features of t in every input row.
    pub time_features: usize,
    /// Width of the conditioning input (the state; 0 when unconditional).
    pub cond_dim: usize,
    /// Widths of the down path, one per level (QGPO: 512, 256, 128).
    pub widths: Vec<usize>,
    /// Width of the state's encoding (QGPO: 32).
    pub cond_width: usize,
    /// Width of the time-and-state embedding every block reads (QGPO: 128).
    pub embed_width: usize,
    pub activation: Activation,
}

/// What a block reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockInput {
    /// The network's x.
    X,
    /// The output of an earlier block.
    Block(usize),
    /// [d_l | u_l] at level l: the outputs of blocks l and [`ResNetLayout::up_block`]`(l)`.
    Concat(usize),
}

/// One residual block's layers and where it reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockShape {
    pub input: BlockInput,
    pub in_dim: usize,
    pub out_dim: usize,
    pub dense1: LayerShape,
    pub dense2: LayerShape,
    /// The skip connection's layer where in_dim differs from out_dim.
    pub skip: Option<LayerShape>,
    /// Where the block's time term starts among `time_proj`'s outputs.
    pub time_column: usize,
}

/// Every layer of a [`ResNetSpec`] with its place in the flat parameter buffer, in that
/// buffer's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetLayout {
    pub time: LayerShape,
    pub cond: Option<LayerShape>,
    pub embed: [LayerShape; 2],
    pub time_proj: LayerShape,
    /// The down path, the middle block, then the up path.
    pub blocks: Vec<BlockShape>,
    pub last: LayerShape,
    pub param_count: usize,
}

impl ResNetLayout {
    /// Levels of the U (the down path's length).
    pub fn levels(&self) -> usize {
        self.blocks.len() / 2
    }

    /// The block whose output is u_l, the up path's tensor at level l.
    pub fn up_block(&self, level: usize) -> usize {
        self.blocks.len() - 1 - level
    }

    /// Every layer, in the parameter buffer's order.
    pub fn layers(&self) -> Vec<LayerShape> {
        let mut all = vec![self.time];
        all.extend(self.cond);
        all.extend(self.embed);
        all.push(self.time_proj);
        for b in &self.blocks {
            all.extend([b.dense1, b.dense2]);
            all.extend(b.skip);
        }
        all.push(self.last);
        all
    }
}

impl ResNetSpec {
    /// Width of an input row: [x | Fourier features | cond].
    pub fn input_width(&self) -> usize {
        self.x_dim + self.time_features + self.cond_dim
    }

    /// The width the embedding MLP reads: [state encoding | time features].
    fn joint_width(&self) -> usize {
        if self.cond_dim > 0 {
            self.cond_width + self.time_features
        } else {
            self.time_features
        }
    }

    pub fn check(&self) -> Result<()> {
        ensure!(self.x_dim > 0, "a residual network needs at least one output coordinate");
        ensure!(self.time_features > 0, "a residual network needs time features");
        ensure!(!self.widths.is_empty(), "a residual network needs at least one level (policy_net.hidden)");
        ensure!(self.widths.iter().all(|&w| w > 0), "a residual network's widths cannot be 0");
        ensure!(self.embed_width > 0, "a residual network's embedding width cannot be 0");
        ensure!(self.cond_dim == 0 || self.cond_width > 0, "a conditional residual network needs a state encoding");
        Ok(())
    }

    /// Where every layer lives in the flat parameter buffer.
    pub fn layout(&self) -> ResNetLayout {
        let mut offset = 0;
        let mut layer = |in_dim: usize, out_dim: usize| {
            let shape = LayerShape { in_dim, out_dim, weight_off: offset, bias_off: offset + in_dim * out_dim };
            offset = shape.bias_off + out_dim;
            shape
        };
        let (f, e) = (self.time_features, self.embed_width);
        let time = layer(f, f);
        let cond = (self.cond_dim > 0).then(|| layer(self.cond_dim, self.cond_width));
        let embed = [layer(self.joint_width(), e), layer(e, e)];

        // Every block's input and output width, down, middle and up.
        let w = &self.widths;
        let n = w.len();
        let mut plan = Vec::new();
        for l in 0..n {
            let (input, in_dim) =
                if l == 0 { (BlockInput::X, self.x_dim) } else { (BlockInput::Block(l - 1), w[l - 1]) };
            plan.push((input, in_dim, w[l]));
        }
        plan.push((BlockInput::Block(n - 1), w[n - 1], w[n - 1]));
        for level in (1..n).rev() {
            plan.push((BlockInput::Concat(level), 2 * w[level], w[level - 1]));
        }
        let time_proj = layer(e, plan.iter().map(|p| p.2).sum());
        let mut time_column = 0;
        let blocks = plan
            .into_iter()
            .map(|(input, in_dim, out_dim)| {
                let block = BlockShape {
                    input,
                    in_dim,
                    out_dim,
                    dense1: layer(in_dim, out_dim),
                    dense2: layer(out_dim, out_dim),
                    skip: (in_dim != out_dim).then(|| layer(in_dim, out_dim)),
                    time_column,
                };
                time_column += out_dim;
                block
            })
            .collect();
        let last = layer(2 * w[0], self.x_dim);
        ResNetLayout { time, cond, embed, time_proj, blocks, last, param_count: offset }
    }

    pub fn param_count(&self) -> usize {
        self.layout().param_count
    }

    /// [`Self::param_count`], or `None` when it might not fit in a `usize` (absurd widths),
    /// for checking sizes before the layout is computed.
    pub fn checked_param_count(&self) -> Option<usize> {
        // Every layer is at most `widest` by `widest`, and there are 3 per block and 6 more.
        let time_proj = self.widths.iter().try_fold(0usize, |sum, &w| sum.checked_add(w.checked_mul(3)?))?;
        let widest = [self.x_dim, self.time_features + self.cond_width, self.cond_dim, self.embed_width, time_proj]
            .into_iter()
            .chain(self.widths.iter().map(|&w| w.saturating_mul(2)))
            .max()?;
        let layers = 3usize.checked_mul(2 * self.widths.len())?.checked_add(6)?;
        widest.checked_add(1)?.checked_mul(widest)?.checked_mul(layers)?;
        Some(self.param_count())
    }

    /// PyTorch's default initialisation of every `nn.Linear`: W and b uniform in ±1/√fan_in.
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
        let layout = self.layout();
        init_linear_layers(&layout.layers(), layout.param_count, seed)
    }
}
