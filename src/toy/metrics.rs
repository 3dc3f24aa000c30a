//! The energy distance between two point sets, and its noise floor on a toy target.
//!
//! For samples X of size n and Y of size m in R^d, with Euclidean norm |·|,
//!
//! ```text
//! D(X, Y) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|
//! ```
//!
//! [`energy_distance`] is the V-statistic: every expectation is the mean over all pairs,
//! the zero self-pairs included. It is the squared energy distance between the two empirical
//! distributions, so it is never negative, and it is biased upwards by about
//! E|X - X'| / n + E|Y - Y'| / m. That bias is the same for a model sample and for a second
//! target sample of the same size, which is why a model is compared with the
//! [`noise_floor`] rather than with zero.
//!
//! [`energy_distance_unbiased`] is the U-statistic: the within-set means leave out the
//! self-pairs. Its expectation is zero when both sets come from one distribution, so it can
//! be slightly negative.
//!
//! Both are exact O(n · m + n² + m²) loops in f64; sets of a few thousand points take a
//! fraction of a second.

use anyhow::{ensure, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::target::sample_exact_target_with;
use super::ToyData;

/// The V-statistic energy distance between two row-major point sets of dimension `dim`.
pub fn energy_distance(x: &[f32], y: &[f32], dim: usize) -> Result<f64> {
    let sums = PairwiseSums::new(x, y, dim)?;
    let (n, m) = (sums.n as f64, sums.m as f64);
    Ok(2.0 * sums.cross / (n * m) - sums.within_x / (n * n) - sums.within_y / (m * m))
}

/// The unbiased (U-statistic) energy distance; each set needs at least two points.
pub fn energy_distance_unbiased(x: &[f32], y: &[f32], dim: usize) -> Result<f64> {
    let sums = PairwiseSums::new(x, y, dim)?;
    ensure!(sums.n >= 2 && sums.m >= 2, "the unbiased energy distance needs at least two points per set");
    let (n, m) = (sums.n as f64, sums.m as f64);
    Ok(2.0 * sums.cross / (n * m) - sums.within_x / (n * (n - 1.0)) - sums.within_y / (m * (m - 1.0)))
}

/// The mean V-statistic energy distance between two independent exact-target samples of `n`
/// points each, over `repeats` pairs drawn from `data` at strength `beta`: the value a
/// perfect model reaches on average with `n` samples, about 2 E|X - X'| / n.
///
/// One pair alone is a noisy reference (its spread is about as large as its mean), so use a
/// few repeats when a test compares a model against it.
pub fn noise_floor(data: &ToyData, beta: f32, n: usize, repeats: usize, seed: u64) -> Result<f64> {
    ensure!(repeats > 0, "the noise floor needs at least one pair of samples");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = 0.0;
    for _ in 0..repeats {
        let first = sample_exact_target_with(data, beta, n, &mut rng)?;
        let second = sample_exact_target_with(data, beta, n, &mut rng)?;
        total += energy_distance(&first.points, &second.points, data.dim)?;
    }
    Ok(total / repeats as f64)
}

/// Sums of Euclidean distances over ordered pairs: across the sets and within each set.
struct PairwiseSums {
    n: usize,
    m: usize,
    cross: f64,
    within_x: f64,
    within_y: f64,
}

impl PairwiseSums {
    fn new(x: &[f32], y: &[f32], dim: usize) -> Result<Self> {
        let x = to_f64_rows(x, dim, "first")?;
        let y = to_f64_rows(y, dim, "second")?;
        let (n, m) = (x.len() / dim, y.len() / dim);
        Ok(Self {
            n,
            m,
            cross: cross_sum(&x, &y, dim),
            within_x: 2.0 * within_sum(&x, dim),
            within_y: 2.0 * within_sum(&y, dim),
        })
    }
}

fn to_f64_rows(points: &[f32], dim: usize, which: &str) -> Result<Vec<f64>> {
    ensure!(dim > 0, "energy distance needs at least one coordinate per point");
    ensure!(!points.is_empty(), "the {which} point set is empty");
    ensure!(
        points.len().is_multiple_of(dim),
        "the {which} point set has {} values, not a whole number of {dim}-D points",
        points.len()
    );
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        anyhow::bail!("the {which} point set has a non-finite coordinate at point {}", i / dim);
    }
    Ok(points.iter().map(|&v| f64::from(v)).collect())
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>().sqrt()
}

/// Σ_i Σ_j |x_i - y_j|.
fn cross_sum(x: &[f64], y: &[f64], dim: usize) -> f64 {
    if dim == 2 {
        // The toy case: a loop the compiler can vectorise, without per-pair slicing.
        let (yx, yy): (Vec<f64>, Vec<f64>) = y.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        return x.chunks_exact(2).map(|p| planar_row_sum(p[0], p[1], &yx, &yy)).sum();
    }
    x.chunks_exact(dim).map(|a| y.chunks_exact(dim).map(|b| distance(a, b)).sum::<f64>()).sum()
}

/// Σ_{i<j} |x_i - x_j|.
fn within_sum(x: &[f64], dim: usize) -> f64 {
    let n = x.len() / dim;
    if dim == 2 {
        let (xs, ys): (Vec<f64>, Vec<f64>) = x.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        return (0..n).map(|i| planar_row_sum(xs[i], ys[i], &xs[i + 1..], &ys[i + 1..])).sum();
    }
    (0..n)
        .map(|i| {
            let a = &x[i * dim..(i + 1) * dim];
            x[(i + 1) * dim..].chunks_exact(dim).map(|b| distance(a, b)).sum::<f64>()
        })
        .sum()
}

fn planar_row_sum(px: f64, py: f64, xs: &[f64], ys: &[f64]) -> f64 {
    xs.iter().zip(ys).map(|(qx, qy)| ((px - qx) * (px - qx) + (py - qy) * (py - qy)).sqrt()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toy::ToyDataset;

    fn shifted(points: &[f32], by: f32) -> Vec<f32> {
        points.iter().map(|v| v + by).collect()
    }

    #[test]
    fn known_one_dimensional_values() {
        // X = {0}, Y = {1}: 2 · 1 - 0 - 0.
        assert!((energy_distance(&[0.0], &[1.0], 1).unwrap() - 2.0).abs() < 1e-12);
        // X = {0, 2}, Y = {1}: cross mean 1, within-X mean (0 + 2 + 2 + 0) / 4 = 1.
        assert!((energy_distance(&[0.0, 2.0], &[1.0], 1).unwrap() - 1.0).abs() < 1e-12);
        // X = Y = {0, 1}: V-statistic 2 · 0.5 - 0.5 - 0.5 = 0, U-statistic 2 · 0.5 - 1 - 1 = -1.
        assert!(energy_distance(&[0.0, 1.0], &[0.0, 1.0], 1).unwrap().abs() < 1e-12);
        assert!((energy_distance_unbiased(&[0.0, 1.0], &[0.0, 1.0], 1).unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn planar_fast_path_matches_general_loop() {
        let a = ToyDataset::Moons.sample(300, 1).points;
        let b = ToyDataset::Rings.sample(200, 2).points;
        let a64: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
        let b64: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
        let general_cross: f64 =
            a64.chunks_exact(2).map(|p| b64.chunks_exact(2).map(|q| distance(p, q)).sum::<f64>()).sum();
        assert!((cross_sum(&a64, &b64, 2) - general_cross).abs() < 1e-9 * general_cross);
        // Embedding in 3-D with a zero coordinate must not change anything.
        let lift = |p: &[f32]| p.chunks_exact(2).flat_map(|q| [q[0], q[1], 0.0]).collect::<Vec<f32>>();
        let planar = energy_distance(&a, &b, 2).unwrap();
        let lifted = energy_distance(&lift(&a), &lift(&b), 3).unwrap();
        assert!((planar - lifted).abs() < 1e-9, "{planar} vs {lifted}");
    }

    #[test]
    fn identical_sets_are_at_zero_and_shifts_grow_the_distance() {
        let a = ToyDataset::EightGaussians.sample(500, 3).points;
        assert!(energy_distance(&a, &a, 2).unwrap().abs() < 1e-12);
        let small = energy_distance(&a, &shifted(&a, 0.3), 2).unwrap();
        let large = energy_distance(&a, &shifted(&a, 1.0), 2).unwrap();
        assert!(small > 0.0 && large > small, "{small} then {large}");
    }

    #[test]
    fn symmetric() {
        let a = ToyDataset::SwissRoll.sample(400, 4).points;
        let b = ToyDataset::Checkerboard.sample(250, 5).points;
        let ab = energy_distance(&a, &b, 2).unwrap();
        let ba = energy_distance(&b, &a, 2).unwrap();
        assert!((ab - ba).abs() < 1e-12 * ab.abs().max(1.0));
        let uab = energy_distance_unbiased(&a, &b, 2).unwrap();
        let uba = energy_distance_unbiased(&b, &a, 2).unwrap();
        assert!((uab - uba).abs() < 1e-12 * uab.abs().max(1.0));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(energy_distance(&[], &[1.0], 1).is_err());
        assert!(energy_distance(&[1.0, 2.0, 3.0], &[1.0, 2.0], 2).is_err());
        assert!(energy_distance(&[1.0], &[1.0], 0).is_err());
        assert!(energy_distance(&[f32::NAN, 0.0], &[1.0, 2.0], 2).is_err());
        assert!(energy_distance_unbiased(&[1.0], &[1.0, 2.0], 1).is_err());
    }

    #[test]
    fn guided_target_stands_out_from_the_noise_floor() {
        let pool = ToyDataset::EightGaussians.sample(200_000, 6);
        let n = 1000;
        let floor = noise_floor(&pool, 2.0, n, 3, 7).unwrap();
        let target = sample_exact_target_with(&pool, 2.0, n, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
        let unguided = sample_exact_target_with(&pool, 0.0, n, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        let gap = energy_distance(&target.points, &unguided.points, 2).unwrap();
        assert!(floor > 0.0 && gap > 5.0 * floor, "noise floor {floor}, guided vs unguided {gap}");
        assert_eq!(noise_floor(&pool, 2.0, n, 3, 7).unwrap(), floor);
        assert!(noise_floor(&pool, 2.0, n, 0, 7).is_err());
    }
}
