//! Energy-weighted flow matching on the 2-D toys, trained on the GPU (lavapipe in CI):
//! the samples must match the exact guided target q ∝ p·exp(-beta·E) up to a stated multiple
//! of the noise floor, and at beta > 0 be clearly closer to it than an unweighted model.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use qipo::toy::train::{train_and_sample, ToyConfig};
use qipo::toy::{energy_distance, noise_floor, sample_exact_target, ToyData, ToyDataset};

/// Samples drawn from each model and from each exact target.
const SAMPLES: usize = 1000;
/// The stated tolerance: the model's energy distance to the exact target may be at most
/// this many times the distance between two independent exact samples of the same size.
const FLOOR_MULTIPLE: f64 = 5.0;
/// At beta > 0, EFM's distance must be below this fraction of the unweighted model's.
const EFM_VS_UNWEIGHTED: f64 = 0.3;

/// A small, fast configuration: enough to resolve the guided distributions on lavapipe.
fn config(beta: f32) -> ToyConfig {
    ToyConfig {
        beta,
        steps: 2500,
        batch: 256,
        hidden: vec![64, 64],
        lr: 5e-3,
        samples: SAMPLES,
        euler_steps: 50,
        seed: 7,
        ..Default::default()
    }
}

fn data(dataset: ToyDataset) -> ToyData {
    dataset.sample(50_000, 1)
}

/// Model samples per (dataset, beta), trained once and shared by the tests that need them.
fn model(dataset: ToyDataset, beta: f32) -> Vec<f32> {
    type Cell = Arc<OnceLock<Vec<f32>>>;
    static CACHE: OnceLock<Mutex<HashMap<(String, u32), Cell>>> = OnceLock::new();
    let cell = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache.entry((dataset.name().to_string(), beta.to_bits())).or_default().clone()
    };
    cell.get_or_init(|| train_and_sample(common::gpu(), &data(dataset), &config(beta), |_, _| {}).unwrap()).clone()
}

fn check(dataset: ToyDataset, beta: f32) {
    let data = data(dataset);
    let samples = model(dataset, beta);
    let target = sample_exact_target(&data, beta, SAMPLES, 11).unwrap();
    let floor = noise_floor(&data, beta, SAMPLES, 4, 12).unwrap();
    let distance = energy_distance(&samples, &target.points, 2).unwrap();
    eprintln!("{dataset} beta {beta}: energy distance {distance:.4}, noise floor {floor:.4}");
    assert!(
        distance <= FLOOR_MULTIPLE * floor,
        "{dataset} beta {beta}: energy distance {distance:.4} is more than {FLOOR_MULTIPLE}× the noise floor {floor:.4}"
    );
    if beta > 0.0 {
        let unweighted = energy_distance(&model(dataset, 0.0), &target.points, 2).unwrap();
        eprintln!("{dataset} beta {beta}: unweighted flow matching {unweighted:.4}");
        assert!(
            distance < EFM_VS_UNWEIGHTED * unweighted,
            "{dataset} beta {beta}: EFM {distance:.4} is not clearly closer than unweighted FM {unweighted:.4}"
        );
    }
}

#[test]
fn eight_gaussians_beta_0() {
    check(ToyDataset::EightGaussians, 0.0);
}

#[test]
fn eight_gaussians_beta_2() {
    check(ToyDataset::EightGaussians, 2.0);
}

#[test]
fn eight_gaussians_beta_5() {
    check(ToyDataset::EightGaussians, 5.0);
}

#[test]
fn moons_beta_0() {
    check(ToyDataset::Moons, 0.0);
}

#[test]
fn moons_beta_2() {
    check(ToyDataset::Moons, 2.0);
}

#[test]
fn moons_beta_5() {
    check(ToyDataset::Moons, 5.0);
}
