//! The three-panel PNG: written, decodable as PNG of the expected size, and robust to odd input.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use qipo::toy::plot::{PANEL_SIZE_PX, TITLE_HEIGHT_PX};
use qipo::toy::{plot_comparison, plot_panels, sample_exact_target, Panel, ToyDataset};

fn temp_png(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("qipo-toy-plot-{}-{n}-{label}.png", std::process::id()))
}

/// Reads the file, removes it, checks the PNG signature and returns (width, height) from
/// the IHDR chunk that must come first.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::remove_file(path).ok();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(bytes.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]), "PNG not finished");
    (word(16), word(20))
}

#[test]
fn comparison_png_has_three_panels() {
    let data = ToyDataset::Moons.sample(20_000, 1);
    let target = sample_exact_target(&data, 2.0, 2000, 2).unwrap();
    let model = ToyDataset::Moons.sample(2000, 3);
    let path = temp_png("comparison");
    plot_comparison(&path, "moons, beta = 2", 2, &data.points[..4000], &target.points, &model.points).unwrap();
    assert_eq!(png_size(&path), (3 * PANEL_SIZE_PX, TITLE_HEIGHT_PX + PANEL_SIZE_PX));
}

#[test]
fn empty_nan_and_far_off_points_do_not_fail() {
    let path = temp_png("odd");
    let model = [f32::NAN, 0.0, 1e30, -1e30, f32::INFINITY, 1.0, 0.5, 0.5];
    plot_comparison(&path, "odd input", 2, &[], &[0.0, 0.0, 1.0, 1.0], &model).unwrap();
    assert_eq!(png_size(&path).0, 3 * PANEL_SIZE_PX);

    let path = temp_png("all-empty");
    plot_comparison(&path, "", 2, &[], &[], &[f32::NAN, f32::NAN]).unwrap();
    assert_eq!(png_size(&path).0, 3 * PANEL_SIZE_PX);
}

#[test]
fn other_dimensions_and_panel_counts() {
    let path = temp_png("dims");
    let panels = [
        Panel { title: "1-D", points: &[0.0, 1.0, 2.0], dim: 1, frames_view: true },
        Panel { title: "3-D", points: &[0.0, 1.0, 9.0, 2.0, 3.0, 9.0], dim: 3, frames_view: true },
    ];
    plot_panels(&path, "two panels", &panels).unwrap();
    assert_eq!(png_size(&path), (2 * PANEL_SIZE_PX, TITLE_HEIGHT_PX + PANEL_SIZE_PX));
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let points = [0.0, 0.0];
    let panel = Panel { title: "p", points: &points, dim: 2, frames_view: true };
    assert!(plot_panels(&temp_png("none"), "no panels", &[]).is_err());
    assert!(plot_panels(&std::env::temp_dir().join("qipo-toy-plot.jpg"), "jpeg", &[panel]).is_err());
    assert!(plot_panels(&std::env::temp_dir().join("qipo-no-such-dir").join("p.png"), "x", &[panel]).is_err());
    assert!(plot_panels(&temp_png("dim0"), "dim 0", &[Panel { dim: 0, ..panel }]).is_err());
}
