//! The exact energy-guided target q(x) ∝ p(x) · exp(-beta · E(x)), sampled without a model.
//!
//! A large sample of p is resampled with replacement, point i with probability
//! w_i = exp(-beta · E_i) / Σ_j exp(-beta · E_j) (ALGORITHM.md section 6). The resample is
//! exact for the empirical distribution of the pool, so the pool should be much larger than
//! the number of points drawn (say 100 times) for the draws to be close to independent.

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ToyData;

/// The guidance probabilities w_i ∝ exp(-beta · E_i), summing to one.
///
/// The exponent is shifted by its maximum (the minimum energy when beta > 0) so the largest
/// weight is exactly 1 before normalising: no overflow, and no underflow of every weight.
pub fn guidance_weights(energies: &[f32], beta: f32) -> Result<Vec<f64>> {
    ensure!(!energies.is_empty(), "cannot weight an empty set of energies");
    ensure!(beta.is_finite(), "guidance strength beta must be finite, got {beta}");
    ensure!(energies.iter().all(|e| e.is_finite()), "energies must be finite");
    let exponents: Vec<f64> = energies.iter().map(|&e| -f64::from(beta) * f64::from(e)).collect();
    let max = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = exponents.iter().map(|a| (a - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    Ok(weights)
}

/// `n` points of the exact target for `data` at strength `beta`, reproducible from `seed`.
/// The result carries the energy of every drawn point.
pub fn sample_exact_target(data: &ToyData, beta: f32, n: usize, seed: u64) -> Result<ToyData> {
    sample_exact_target_with(data, beta, n, &mut ChaCha8Rng::seed_from_u64(seed))
}

/// [`sample_exact_target`] drawing from `rng`, so that successive calls are independent.
pub fn sample_exact_target_with(data: &ToyData, beta: f32, n: usize, rng: &mut impl Rng) -> Result<ToyData> {
    data.validate()?;
    let weights = guidance_weights(&data.energies, beta)?;
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect();
    let total = cumulative[cumulative.len() - 1];

    let mut points = Vec::with_capacity(n * data.dim);
    let mut energies = Vec::with_capacity(n);
    for _ in 0..n {
        // The first index whose cumulative weight exceeds u; points of zero weight are never
        // chosen because their cumulative weight equals their predecessor's.
        let u = rng.random::<f64>() * total;
        let i = cumulative.partition_point(|&c| c <= u).min(data.len() - 1);
        points.extend_from_slice(data.point(i));
        energies.push(data.energies[i]);
    }
    Ok(ToyData { points, dim: data.dim, energies })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_data(n: usize) -> ToyData {
        let points: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let energies = points.iter().map(|x| x / n as f32).collect();
        ToyData::new(points, 1, energies).unwrap()
    }

    #[test]
    fn weights_are_normalised_softmax_of_minus_beta_energy() {
        let weights = guidance_weights(&[0.0, 1.0, 2.0], 2.0).unwrap();
        let raw = [1.0, (-2.0f64).exp(), (-4.0f64).exp()];
        let total: f64 = raw.iter().sum();
        for (w, r) in weights.iter().zip(raw) {
            assert!((w - r / total).abs() < 1e-12);
        }
    }

    #[test]
    fn weights_survive_extreme_energies_and_beta() {
        let weights = guidance_weights(&[1000.0, 1001.0, 5000.0], 50.0).unwrap();
        assert!(weights.iter().all(|w| w.is_finite()));
        assert!((weights[0] - 1.0).abs() < 1e-12, "{weights:?}");
        let flat = guidance_weights(&[-1e30, 1e30], 0.0).unwrap();
        assert_eq!(flat, vec![0.5, 0.5]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(guidance_weights(&[], 1.0).is_err());
        assert!(guidance_weights(&[0.0], f32::NAN).is_err());
        assert!(guidance_weights(&[f32::INFINITY], 1.0).is_err());
        let empty = ToyData { points: vec![], dim: 2, energies: vec![] };
        assert!(sample_exact_target(&empty, 1.0, 10, 0).is_err());
    }

    #[test]
    fn beta_zero_resamples_uniformly() {
        let data = line_data(4);
        let draws = 40_000;
        let sample = sample_exact_target(&data, 0.0, draws, 1).unwrap();
        assert_eq!(sample.len(), draws);
        for value in 0..4 {
            let count = sample.points.iter().filter(|&&x| x == value as f32).count();
            let share = count as f64 / draws as f64;
            // Standard error of a 1/4 share over 40 000 draws is about 0.002.
            assert!((share - 0.25).abs() < 0.01, "value {value}: share {share}");
        }
    }

    #[test]
    fn two_points_are_drawn_in_the_exact_ratio() {
        // E = 0 and E = 1 at beta = ln 3: odds exactly 3 : 1.
        let data = ToyData::new(vec![-1.0, 0.0, 1.0, 0.0], 2, vec![0.0, 1.0]).unwrap();
        let draws = 100_000;
        let sample = sample_exact_target(&data, 3f32.ln(), draws, 2).unwrap();
        let low = sample.points.chunks_exact(2).filter(|p| p[0] == -1.0).count() as f64 / draws as f64;
        // Standard error: sqrt(0.75 · 0.25 / 1e5) ≈ 0.0014.
        assert!((low - 0.75).abs() < 0.006, "share of the low-energy point {low}");
        assert!(sample.energies.iter().zip(sample.points.chunks_exact(2)).all(|(e, p)| *e == (p[0] + 1.0) / 2.0));
    }

    #[test]
    fn zero_weight_points_are_never_drawn() {
        let data = ToyData::new(vec![0.0, 1.0, 2.0], 1, vec![0.0, 1e4, 0.0]).unwrap();
        let sample = sample_exact_target(&data, 10.0, 10_000, 3).unwrap();
        assert!(!sample.points.contains(&1.0));
    }

    #[test]
    fn same_seed_same_sample() {
        let data = line_data(100);
        assert_eq!(sample_exact_target(&data, 2.0, 50, 9).unwrap(), sample_exact_target(&data, 2.0, 50, 9).unwrap());
    }
}
