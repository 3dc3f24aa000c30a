//! The 2-D toy suite for energy-guided generation (ALGORITHM.md sections 1, 3 and 6), CPU side.
//!
//! A toy problem is a point cloud drawn from a data distribution p together with the energy
//! E of every point. The energy-guided target is q(x) ∝ p(x) · exp(-beta · E(x)); on a toy it
//! can be sampled exactly, without any model, by resampling a large data sample with weights
//! ∝ exp(-beta · E). A trained flow model is judged by the energy distance of its samples to
//! that exact target, compared with the distance between two independent exact samples.
//!
//! - [`datasets`]: the six built-in datasets of the QGPO toy suite and their energies.
//! - [`csv`]: user data from a CSV file (coordinates then an `energy` column), and writers.
//! - [`target`]: the exact energy-guided target by weighted resampling.
//! - [`metrics`]: the energy distance and its noise floor.
//! - [`train`]: EFM training of a velocity network on the GPU, and sampling it.
//! - [`plot`]: a PNG with data, exact target and model samples side by side.

pub mod csv;
pub mod datasets;
pub mod metrics;
pub mod plot;
pub mod target;
pub mod train;

pub use self::csv::{load_csv, parse_csv, write_data_csv, write_samples_csv, ToyCsvError};
pub use datasets::ToyDataset;
pub use metrics::{energy_distance, energy_distance_unbiased, noise_floor};
pub use plot::{plot_comparison, plot_panels, Panel};
pub use target::{guidance_weights, sample_exact_target, sample_exact_target_with};

use anyhow::{ensure, Result};

/// A toy problem: `n` points of dimension `dim` and the energy of each point.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyData {
    /// Row-major `n × dim` coordinates.
    pub points: Vec<f32>,
    /// Coordinates per point (2 for the built-in datasets).
    pub dim: usize,
    /// One energy per point; lower energy means more weight under guidance.
    pub energies: Vec<f32>,
}

impl ToyData {
    /// Checks that the shapes agree and that every value is finite.
    pub fn new(points: Vec<f32>, dim: usize, energies: Vec<f32>) -> Result<Self> {
        let data = Self { points, dim, energies };
        data.validate()?;
        Ok(data)
    }

    /// The checks of [`ToyData::new`], for values built field by field.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.dim > 0, "toy data needs at least one coordinate per point");
        ensure!(
            self.points.len() == self.energies.len() * self.dim,
            "toy data has {} coordinates for {} energies of dimension {}",
            self.points.len(),
            self.energies.len(),
            self.dim
        );
        if let Some(i) = self.points.iter().position(|v| !v.is_finite()) {
            anyhow::bail!("toy data point {} has a non-finite coordinate", i / self.dim);
        }
        if let Some(i) = self.energies.iter().position(|v| !v.is_finite()) {
            anyhow::bail!("toy data point {i} has a non-finite energy");
        }
        Ok(())
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.energies.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.energies.is_empty()
    }

    /// The coordinates of point `i`.
    pub fn point(&self, i: usize) -> &[f32] {
        &self.points[i * self.dim..(i + 1) * self.dim]
    }
}
