//! The exact guided target against the data on every built-in dataset, measured with the
//! energy distance and its noise floor (ALGORITHM.md section 6).

use qipo::toy::{energy_distance, noise_floor, sample_exact_target, ToyDataset};

const POOL: usize = 100_000;
const N: usize = 2000;
/// Pairs averaged into each noise floor.
const REPEATS: usize = 4;

#[test]
fn beta_zero_target_is_the_data_distribution() {
    for dataset in ToyDataset::ALL {
        let pool = dataset.sample(POOL, 1);
        let target = sample_exact_target(&pool, 0.0, N, 2).unwrap();
        let fresh = dataset.sample(N, 3);
        let distance = energy_distance(&target.points, &fresh.points, 2).unwrap();
        let floor = noise_floor(&pool, 0.0, N, REPEATS, 4).unwrap();
        assert!(distance < 3.0 * floor, "{dataset}: distance {distance}, noise floor {floor}");
    }
}

#[test]
fn guidance_visibly_moves_every_dataset() {
    for dataset in ToyDataset::ALL {
        let pool = dataset.sample(POOL, 5);
        let data = dataset.sample(N, 6);
        let mut previous = 0.0;
        for beta in [2.0, 5.0] {
            let target = sample_exact_target(&pool, beta, N, 7).unwrap();
            let distance = energy_distance(&target.points, &data.points, 2).unwrap();
            let floor = noise_floor(&pool, beta, N, REPEATS, 8).unwrap();
            // Rings at beta 2 is the weakest case (concentric rings reweighted, about 2.4x).
            assert!(distance > 2.0 * floor, "{dataset} at beta {beta}: distance {distance}, floor {floor}");
            assert!(distance > previous, "{dataset}: beta {beta} is not further from the data");
            let mean_energy = |e: &[f32]| e.iter().sum::<f32>() / e.len() as f32;
            assert!(mean_energy(&target.energies) < mean_energy(&data.energies) - 0.05, "{dataset} at beta {beta}");
            previous = distance;
        }
    }
}
