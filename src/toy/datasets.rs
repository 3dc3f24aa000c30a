//! The six 2-D datasets of the QGPO toy suite, each paired with an energy.
//!
//! The shapes and scales follow the toy data of QGPO (Lu et al., 2023), which the EFM paper
//! reuses: every dataset lies roughly within [-4, 4]². QGPO attaches to each point a value in
//! about [0, 1] that guidance should *increase* (its target is p · exp(beta · value)). This
//! crate's convention is q ∝ p · exp(-beta · E), so the energy here is `E = 1 - value`: the
//! guided target is the same, and E stays in about [0, 1].
//!
//! QGPO computes its value from how a point was generated (which Gaussian, which moon, which
//! ring). Here E is a function of position only, so it can also score model samples: it is
//! the value of the nearest component. The two agree except for the rare points that noise
//! pushes closer to another component (see the tests).
//!
//! | dataset | energy E(x) | guidance favours |
//! |---|---|---|
//! | 8gaussians | 1 - k/7 for the nearest centre k = 0..7, counter-clockwise from the top | the top-right Gaussian, then the right one, ... |
//! | swissroll | 1 - \|x\|²/9 | the outer turns |
//! | moons | 1 on the upper moon, 0 on the lower moon | the lower moon |
//! | rings | 1/3, 2/3, 0, 1 on the rings of radius 3, 2.25, 1.5, 0.75 | the ring of radius 1.5, then 3 |
//! | checkerboard | 0 for x in [-4, -2] or (0, 2], else 1 | the columns x in [-4, -2] and [0, 2] |
//! | 2spirals | n/10, n in [0, 3π] the spiral parameter (arc angle) | the centre of both spirals |

use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI, SQRT_2};
use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::ToyData;

/// A built-in 2-D toy dataset. The command-line and serde names are those of the QGPO code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
pub enum ToyDataset {
    /// Eight Gaussians on a circle of radius 4/√2.
    #[value(name = "8gaussians")]
    #[serde(rename = "8gaussians")]
    EightGaussians,
    /// A noisy 2-D swiss roll (the x-z plane of the 3-D roll).
    #[value(name = "swissroll")]
    #[serde(rename = "swissroll")]
    SwissRoll,
    /// Two interleaved half circles.
    #[value(name = "moons")]
    #[serde(rename = "moons")]
    Moons,
    /// Four concentric rings.
    #[value(name = "rings")]
    #[serde(rename = "rings")]
    Rings,
    /// A 4 × 4 checkerboard with half of the squares filled.
    #[value(name = "checkerboard")]
    #[serde(rename = "checkerboard")]
    Checkerboard,
    /// Two interleaved spiral arms.
    #[value(name = "2spirals")]
    #[serde(rename = "2spirals")]
    TwoSpirals,
}

/// Radii of the four rings, outermost first.
const RING_RADII: [f32; 4] = [3.0, 2.25, 1.5, 0.75];
/// QGPO's value of each ring in [`RING_RADII`] (the energy is one minus it).
const RING_VALUES: [f32; 4] = [2.0 / 3.0, 1.0 / 3.0, 1.0, 0.0];
/// The spirals run over 540 degrees of arc.
const SPIRAL_TURN: f32 = 3.0 * PI;

impl ToyDataset {
    /// All datasets, in the order of the QGPO paper's figure.
    pub const ALL: [ToyDataset; 6] = [
        ToyDataset::SwissRoll,
        ToyDataset::EightGaussians,
        ToyDataset::Moons,
        ToyDataset::Rings,
        ToyDataset::Checkerboard,
        ToyDataset::TwoSpirals,
    ];

    /// The command-line and file name, e.g. `8gaussians`.
    pub fn name(self) -> &'static str {
        match self {
            ToyDataset::EightGaussians => "8gaussians",
            ToyDataset::SwissRoll => "swissroll",
            ToyDataset::Moons => "moons",
            ToyDataset::Rings => "rings",
            ToyDataset::Checkerboard => "checkerboard",
            ToyDataset::TwoSpirals => "2spirals",
        }
    }

    /// `n` points and their energies, reproducible from `seed`.
    pub fn sample(self, n: usize, seed: u64) -> ToyData {
        self.sample_with(n, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// `n` points and their energies drawn from `rng`.
    pub fn sample_with(self, n: usize, rng: &mut impl Rng) -> ToyData {
        let mut points = Vec::with_capacity(2 * n);
        let mut energies = Vec::with_capacity(n);
        for _ in 0..n {
            let (point, _) = self.draw(rng);
            points.extend_from_slice(&point);
            energies.push(self.energy(point));
        }
        ToyData { points, dim: 2, energies }
    }

    /// The energy E(x) at any point of the plane (see the module table).
    pub fn energy(self, point: [f32; 2]) -> f32 {
        let [x, y] = point;
        match self {
            ToyDataset::EightGaussians => {
                let k = nearest_gaussian(x, y);
                1.0 - k as f32 / 7.0
            }
            ToyDataset::SwissRoll => 1.0 - (x * x + y * y) / 9.0,
            ToyDataset::Moons => {
                if on_lower_moon(x, y) {
                    0.0
                } else {
                    1.0
                }
            }
            ToyDataset::Rings => 1.0 - RING_VALUES[nearest_ring(x, y)],
            ToyDataset::Checkerboard => 1.0 - checkerboard_value(x),
            ToyDataset::TwoSpirals => spiral_parameter(x, y) / 10.0,
        }
    }

    /// The energy of every point of a row-major `n × 2` array.
    pub fn energies(self, points: &[f32]) -> Vec<f32> {
        points.chunks_exact(2).map(|p| self.energy([p[0], p[1]])).collect()
    }

    /// One point, and QGPO's value computed from how the point was generated.
    fn draw(self, rng: &mut impl Rng) -> ([f32; 2], f32) {
        match self {
            ToyDataset::EightGaussians => {
                let k = rng.random_range(0..8u8);
                let angle = FRAC_PI_2 + f32::from(k) * FRAC_PI_4;
                let x = (4.0 * angle.cos() + 0.5 * normal(rng)) / SQRT_2;
                let y = (4.0 * angle.sin() + 0.5 * normal(rng)) / SQRT_2;
                ([x, y], f32::from(k) / 7.0)
            }
            ToyDataset::SwissRoll => {
                // sklearn's make_swiss_roll with noise 1, keeping the (x, z) plane, divided by 5.
                let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f32>());
                let x = (t * t.cos() + normal(rng)) / 5.0;
                let y = (t * t.sin() + normal(rng)) / 5.0;
                ([x, y], (x * x + y * y) / 9.0)
            }
            ToyDataset::Moons => {
                // sklearn's make_moons with noise 0.1, then scaled by 2 and shifted.
                let a = PI * rng.random::<f32>();
                let lower = rng.random_bool(0.5);
                let (u, v) = if lower { (1.0 - a.cos(), 0.5 - a.sin()) } else { (a.cos(), a.sin()) };
                let x = 2.0 * (u + 0.1 * normal(rng)) - 1.0;
                let y = 2.0 * (v + 0.1 * normal(rng)) - 0.2;
                ([x, y], if lower { 1.0 } else { 0.0 })
            }
            ToyDataset::Rings => {
                let ring = rng.random_range(0..RING_RADII.len());
                let angle = 2.0 * PI * rng.random::<f32>();
                let r = RING_RADII[ring];
                let x = r * angle.cos() + 0.08 * normal(rng);
                let y = r * angle.sin() + 0.08 * normal(rng);
                ([x, y], RING_VALUES[ring])
            }
            ToyDataset::Checkerboard => {
                let x1 = 4.0 * rng.random::<f32>() - 2.0;
                let row = rng.random::<f32>() - 2.0 * f32::from(rng.random_range(0..2u8));
                let x2 = row + x1.floor().rem_euclid(2.0);
                let x = 2.0 * x1;
                ([x, 2.0 * x2], checkerboard_value(x))
            }
            ToyDataset::TwoSpirals => {
                // sqrt makes the density uniform along the arc, as in QGPO.
                let n = rng.random::<f32>().sqrt() * SPIRAL_TURN;
                let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                let dx = -n.cos() * n + 0.5 * rng.random::<f32>();
                let dy = n.sin() * n + 0.5 * rng.random::<f32>();
                let x = sign * dx / 3.0 + 0.1 * normal(rng);
                let y = sign * dy / 3.0 + 0.1 * normal(rng);
                ([x, y], (1.0 - n / 10.0).clamp(0.0, 1.0))
            }
        }
    }
}

impl fmt::Display for ToyDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn normal(rng: &mut impl Rng) -> f32 {
    rng.sample(StandardNormal)
}

/// Index 0..7 of the nearest of the eight Gaussian centres, counter-clockwise from the top.
fn nearest_gaussian(x: f32, y: f32) -> usize {
    let steps = ((y.atan2(x) - FRAC_PI_2) / FRAC_PI_4).round();
    steps.rem_euclid(8.0) as usize % 8
}

/// Whether the point is closer to the lower moon than to the upper one.
fn on_lower_moon(x: f32, y: f32) -> bool {
    // Back to sklearn's coordinates, where the moons are unit half circles.
    let (u, v) = ((x + 1.0) / 2.0, (y + 0.2) / 2.0);
    let upper = distance_to_half_circle(u, v, 0.0, 0.0, true);
    let lower = distance_to_half_circle(u, v, 1.0, 0.5, false);
    lower < upper
}

/// Distance to the upper (or lower) unit half circle centred on (cx, cy).
fn distance_to_half_circle(u: f32, v: f32, cx: f32, cy: f32, upper: bool) -> f32 {
    let (du, dv) = (u - cx, v - cy);
    let on_arc_side = if upper { dv >= 0.0 } else { dv <= 0.0 };
    if on_arc_side {
        (du.hypot(dv) - 1.0).abs()
    } else {
        // Beyond the arc's ends the nearest arc point is an end point, (±1, 0) from the centre.
        (du - 1.0).hypot(dv).min((du + 1.0).hypot(dv))
    }
}

/// Index into [`RING_RADII`] of the ring nearest to the point.
fn nearest_ring(x: f32, y: f32) -> usize {
    let r = x.hypot(y);
    let gap = |i: usize| (r - RING_RADII[i]).abs();
    (0..RING_RADII.len()).min_by(|&a, &b| gap(a).total_cmp(&gap(b))).unwrap_or(0)
}

/// QGPO's checkerboard value: 1 on the columns x in [-4, -2] and (0, 2].
fn checkerboard_value(x: f32) -> f32 {
    if (x > 0.0 && x <= 2.0) || x <= -2.0 {
        1.0
    } else {
        0.0
    }
}

/// The spiral parameter n in [0, 3π] of the arm point nearest to (x, y) along its ray.
///
/// Arm one is n · (cos(π - n), sin(π - n)) / 3 plus a mean offset of (1/12, 1/12) from the
/// uniform jitter; arm two is its mirror through the origin. For a point at radius r and
/// angle θ, the candidates on arm one are n = π - θ + 2πk; the one closest to r wins.
fn spiral_parameter(x: f32, y: f32) -> f32 {
    let offset = 0.25 / 3.0;
    let arm = |px: f32, py: f32| {
        let (qx, qy) = (3.0 * (px - offset), 3.0 * (py - offset));
        let r = qx.hypot(qy);
        let base = (PI - qy.atan2(qx)).rem_euclid(2.0 * PI);
        let k = ((r - base) / (2.0 * PI)).round().max(0.0);
        let n = (base + 2.0 * PI * k).min(SPIRAL_TURN);
        (n, (n - r).abs())
    };
    let (n1, gap1) = arm(x, y);
    let (n2, gap2) = arm(-x, -y);
    if gap1 <= gap2 {
        n1
    } else {
        n2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(points: &[f32]) -> (f32, f32) {
        points.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }

    #[test]
    fn shapes_ranges_and_finite_energies() {
        for dataset in ToyDataset::ALL {
            let data = dataset.sample(5000, 7);
            assert_eq!(data.dim, 2);
            assert_eq!(data.len(), 5000);
            assert_eq!(data.points.len(), 10_000);
            data.validate().unwrap();
            let (lo, hi) = bounds(&data.points);
            assert!(lo >= -5.0 && hi <= 5.0, "{dataset}: points in [{lo}, {hi}]");
            assert!(hi - lo > 4.0, "{dataset}: points span only [{lo}, {hi}]");
            let (elo, ehi) = bounds(&data.energies);
            assert!(elo >= -0.5 && ehi <= 1.0 + 1e-6, "{dataset}: energies in [{elo}, {ehi}]");
            assert!(ehi - elo > 0.5, "{dataset}: energies barely vary: [{elo}, {ehi}]");
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        for dataset in ToyDataset::ALL {
            assert_eq!(dataset.sample(300, 11), dataset.sample(300, 11));
            assert_ne!(dataset.sample(300, 11).points, dataset.sample(300, 12).points);
        }
    }

    #[test]
    fn position_energy_matches_qgpo_generation_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for dataset in ToyDataset::ALL {
            let n = 20_000;
            let mut agree = 0;
            for _ in 0..n {
                let (point, value) = dataset.draw(&mut rng);
                // The spiral parameter is continuous: noise moves it a little.
                let tolerance = if dataset == ToyDataset::TwoSpirals { 0.1 } else { 1e-4 };
                if (dataset.energy(point) - (1.0 - value)).abs() <= tolerance {
                    agree += 1;
                }
            }
            let rate = agree as f64 / n as f64;
            assert!(rate > 0.97, "{dataset}: position energy agrees with QGPO's value for {rate}");
        }
    }

    #[test]
    fn names_round_trip_through_clap_and_serde() {
        use clap::ValueEnum;
        let names = ["8gaussians", "swissroll", "moons", "rings", "checkerboard", "2spirals"];
        for name in names {
            let dataset = ToyDataset::from_str(name, false).unwrap();
            assert_eq!(dataset.name(), name);
            assert_eq!(dataset.to_string(), name);
            assert_eq!(serde_json::to_string(&dataset).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<ToyDataset>(&format!("\"{name}\"")).unwrap(), dataset);
        }
        assert_eq!(ToyDataset::value_variants().len(), names.len());
    }

    #[test]
    fn energies_of_many_points_match_pointwise_energy() {
        let data = ToyDataset::Rings.sample(100, 5);
        assert_eq!(ToyDataset::Rings.energies(&data.points), data.energies);
    }
}
