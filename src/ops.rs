//! What the kernels compute, as plain descriptions: layer shapes, column views, reductions
//! and the optimiser's settings. Nothing here touches the GPU, so the kernels and their CPU
//! twins in [`crate::reference`] share one definition.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Where one layer's weight (out×in) and bias (out) live in a flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub in_dim: usize,
    pub out_dim: usize,
    pub weight_off: usize,
    pub bias_off: usize,
}

/// A column block of a row-major matrix in a flat buffer: element (r, c) of the block is at
/// `offset + r · row_stride + c`; copy k of the matrix lies `k · copy_stride` further on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColumnView {
    pub offset: usize,
    pub row_stride: usize,
    pub copy_stride: usize,
}

impl ColumnView {
    /// Columns `first..` of a matrix `width` wide whose copies hold `rows` rows each, packed.
    pub fn of(width: usize, first: usize, rows: usize) -> Self {
        Self { offset: first, row_stride: width, copy_stride: rows * width }
    }
}

/// Whether the block replaces what the destination holds or is added to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnMode {
    Copy,
    Add,
}

/// What a reduction computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    /// The sum divided by the length (0 for an empty range).
    Mean,
    /// The largest element (-inf for an empty range).
    Max,
    /// The sum of the squared elements, e.g. a squared gradient norm.
    SumOfSquares,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::SumOfSquares];
}

/// Optimiser settings. Hyperparameters are f64 so that host-side quantities such as 1 - β1
/// are exactly what PyTorch computes from the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay λ (AdamW); 0 is plain Adam.
    pub weight_decay: f64,
    /// Largest global gradient norm before gradients are scaled down; <= 0 disables clipping.
    pub max_grad_norm: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, max_grad_norm: 0.0 }
    }
}

impl AdamConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let Self { lr, beta1, beta2, eps, weight_decay, max_grad_norm } = *self;
        if !(lr.is_finite() && lr >= 0.0) {
            bail!("Adam learning rate must be a finite number >= 0, got {lr}");
        }
        for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
            if !(0.0..1.0).contains(&beta) {
                bail!("Adam {name} must be in [0, 1), got {beta}");
            }
        }
        if !(eps.is_finite() && eps > 0.0) {
            bail!("Adam eps must be a finite number > 0, got {eps}");
        }
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            bail!("Adam weight decay must be a finite number >= 0, got {weight_decay}");
        }
        if max_grad_norm.is_nan() {
            bail!("max gradient norm must be a number (<= 0 disables clipping), got NaN");
        }
        Ok(())
    }

    pub fn clips(&self) -> bool {
        self.max_grad_norm > 0.0
    }
}
