//! A PNG of scatter panels side by side, all with the same square view: by default data,
//! exact target and model samples.
//!
//! Text needs a TrueType font (see `crate::font`); without one the panels are drawn without
//! titles or axis labels rather than failing.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBColor;

use crate::font::{font_registered, FONT};

/// Width and height in pixels of one panel.
pub const PANEL_SIZE_PX: u32 = 400;
/// Height in pixels of the strip above the panels that holds the figure title.
pub const TITLE_HEIGHT_PX: u32 = 36;

const COLOURS: [RGBColor; 3] = [RGBColor(50, 90, 170), RGBColor(30, 140, 70), RGBColor(210, 80, 30)];

/// One scatter panel: row-major points of dimension `dim`, of which the first two
/// coordinates are drawn (a 1-D point is drawn at y = 0).
#[derive(Clone, Copy, Debug)]
pub struct Panel<'a> {
    pub title: &'a str,
    pub points: &'a [f32],
    pub dim: usize,
    /// Whether the shared view must cover this panel's points. Model samples usually do not
    /// set it, so that a few far-off samples cannot shrink the data to a dot; points outside
    /// the view are counted in the panel title.
    pub frames_view: bool,
}

/// Writes data, exact target and model samples side by side; the view covers data and target.
pub fn plot_comparison(
    path: &Path,
    title: &str,
    dim: usize,
    data: &[f32],
    target: &[f32],
    model: &[f32],
) -> Result<()> {
    let panel = |title, points, frames_view| Panel { title, points, dim, frames_view };
    plot_panels(
        path,
        title,
        &[panel("data", data, true), panel("exact target", target, true), panel("model", model, false)],
    )
}

/// Writes the panels side by side to the PNG file `path` (which must end in `.png`).
/// Non-finite points are skipped; empty panels are drawn empty.
pub fn plot_panels(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    render(path, title, panels, font_registered())
}

fn render(path: &Path, title: &str, panels: &[Panel], with_text: bool) -> Result<()> {
    let is_png = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    ensure!(is_png, "plot file {} must end in .png", path.display());
    ensure!(!panels.is_empty(), "nothing to plot into {}", path.display());
    let planar: Vec<Vec<(f64, f64)>> = panels.iter().map(finite_planar_points).collect::<Result<_>>()?;
    let view = View::covering(panels.iter().zip(&planar).filter(|(p, _)| p.frames_view).map(|(_, pts)| pts.as_slice()))
        .or_else(|| View::covering(planar.iter().map(Vec::as_slice)))
        .unwrap_or(View { x: (-1.0, 1.0), y: (-1.0, 1.0) });

    let size = (PANEL_SIZE_PX * panels.len() as u32, TITLE_HEIGHT_PX + PANEL_SIZE_PX);
    let write = || -> Result<()> {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, body) = root.split_vertically(TITLE_HEIGHT_PX);
        if with_text {
            let style = TextStyle::from((FONT, 22).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
            top.draw_text(title, &style, ((size.0 / 2) as i32, (TITLE_HEIGHT_PX / 2) as i32))?;
        }
        for (i, (area, panel)) in body.split_evenly((1, panels.len())).iter().zip(panels).enumerate() {
            let shown: Vec<(f64, f64)> = planar[i].iter().copied().filter(|&p| view.contains(p)).collect();
            let hidden = panel.points.len() / panel.dim.max(1) - shown.len();
            let caption =
                if hidden > 0 { format!("{} ({hidden} not shown)", panel.title) } else { panel.title.to_string() };
            draw_panel(area, &caption, &shown, &view, COLOURS[i % COLOURS.len()], with_text)?;
        }
        root.present()?;
        Ok(())
    };
    write().with_context(|| format!("cannot write plot {}", path.display()))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    points: &[(f64, f64)],
    view: &View,
    colour: RGBColor,
    with_text: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut builder = ChartBuilder::on(area);
    builder.margin(8);
    if with_text {
        builder.caption(caption, (FONT, 17)).x_label_area_size(24).y_label_area_size(34);
    }
    let mut chart = builder.build_cartesian_2d(view.x.0..view.x.1, view.y.0..view.y.1)?;
    if with_text {
        chart.configure_mesh().x_labels(5).y_labels(5).max_light_lines(0).label_style((FONT, 12)).draw()?;
    } else {
        let frame = Rectangle::new([(view.x.0, view.y.0), (view.x.1, view.y.1)], BLACK.stroke_width(1));
        chart.plotting_area().draw(&frame)?;
    }
    // Smaller dots for large samples keep dense regions readable.
    let radius = if points.len() > 5000 { 1 } else { 2 };
    let style = colour.mix(0.5).filled();
    chart.draw_series(points.iter().map(|&p| Circle::new(p, radius, style)))?;
    Ok(())
}

/// The finite points of a panel as (x, y) pairs.
fn finite_planar_points(panel: &Panel) -> Result<Vec<(f64, f64)>> {
    ensure!(panel.dim > 0, "panel {:?} has points of dimension 0", panel.title);
    let planar =
        panel.points.chunks_exact(panel.dim).map(|p| (f64::from(p[0]), p.get(1).map_or(0.0, |&y| f64::from(y))));
    Ok(planar.filter(|(x, y)| x.is_finite() && y.is_finite()).collect())
}

/// A square region of the plane shared by all panels.
#[derive(Clone, Copy, Debug, PartialEq)]
struct View {
    x: (f64, f64),
    y: (f64, f64),
}

impl View {
    /// The smallest square holding every point, padded by 5 %; `None` without any point.
    fn covering<'a>(sets: impl Iterator<Item = &'a [(f64, f64)]>) -> Option<View> {
        let mut bounds: Option<[f64; 4]> = None;
        for &(x, y) in sets.flatten() {
            let b = bounds.get_or_insert([x, x, y, y]);
            *b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
        }
        let [x0, x1, y0, y1] = bounds?;
        let half = (0.5 * (x1 - x0).max(y1 - y0) * 1.05).max(1e-3);
        let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
        Some(View { x: (cx - half, cx + half), y: (cy - half, cy + half) })
    }

    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x.0 && x <= self.x.1 && y >= self.y.0 && y <= self.y.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_is_square_and_covers_the_points() {
        let points = [(0.0, 0.0), (4.0, 1.0)];
        let view = View::covering([&points[..]].into_iter()).unwrap();
        assert!((view.x.1 - view.x.0 - (view.y.1 - view.y.0)).abs() < 1e-12);
        assert!(points.iter().all(|&p| view.contains(p)));
        assert!(View::covering(std::iter::empty()).is_none());
        let single = View::covering([&[(1.0, 1.0)][..]].into_iter()).unwrap();
        assert!(single.x.1 > single.x.0);
    }

    #[test]
    fn panels_without_text_render() {
        let path = std::env::temp_dir().join(format!("qipo-toy-plot-notext-{}.png", std::process::id()));
        let points = [0.0, 0.0, 1.0, 1.0, f32::NAN, 0.0];
        let panel = Panel { title: "a", points: &points, dim: 2, frames_view: true };
        render(&path, "no text", &[panel, panel], false).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
