//! `results.png`: score against β with standard-error bars, a panel per dataset (a series per
//! policy learning rate, where the grid varies it), with the dataset's own score (grey,
//! dashed) and the paper's QIPO score (red, dashed) as lines.

use std::path::Path;

use anyhow::{Context as _, Result};
use plotters::prelude::*;

use super::results::{DatasetResults, SweepResults};
use crate::font::{font_registered, FONT};

/// Width and height in pixels of one panel, and panels per row.
const PANEL_PX: (u32, u32) = (420, 300);
const COLUMNS: usize = 3;

/// The score series' colours, one per learning rate.
const SCORES: [RGBColor; 5] =
    [RGBColor(50, 90, 170), RGBColor(40, 150, 90), RGBColor(150, 70, 170), RGBColor(220, 140, 20), RGBColor(0, 0, 0)];
const DATASET: RGBColor = RGBColor(120, 120, 120);
const PAPER: RGBColor = RGBColor(210, 60, 40);

pub fn plot_results(results: &SweepResults, png: &Path) -> Result<()> {
    draw(results, png, font_registered()).with_context(|| format!("cannot write plot {}", png.display()))
}

fn draw(results: &SweepResults, png: &Path, with_text: bool) -> Result<()> {
    let panels = results.datasets.len().max(1);
    let columns = panels.min(COLUMNS);
    let rows = panels.div_ceil(columns);
    let root = BitMapBackend::new(png, (PANEL_PX.0 * columns as u32, PANEL_PX.1 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, dataset) in root.split_evenly((rows, columns)).iter().zip(&results.datasets) {
        draw_panel(area, dataset, with_text)?;
    }
    root.present()?;
    Ok(())
}

/// A finished cell: (β, mean score, standard error).
type Point = (f64, f64, f64);

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    dataset: &DatasetResults,
    with_text: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Each learning rate's finished cells.
    let series: Vec<(Option<f64>, Vec<Point>)> = dataset
        .learning_rates()
        .into_iter()
        .map(|lr| {
            let cells = dataset.cells.iter().filter(|c| c.lr == lr);
            (lr, cells.filter_map(|c| Some((c.beta, c.score_mean?, c.score_stderr.unwrap_or(0.0)))).collect())
        })
        .collect();
    let points = series.iter().flat_map(|(_, points)| points);
    let lines: Vec<(f64, RGBColor, &str)> =
        [(dataset.dataset_score, DATASET, "dataset's score"), (dataset.paper_score, PAPER, "paper's QIPO")]
            .into_iter()
            .filter_map(|(v, c, label)| Some((v?, c, label)))
            .collect();
    let ys = points.flat_map(|&(_, m, s)| [m - s, m + s]).chain(lines.iter().map(|&(v, _, _)| v));
    let (low, high) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| (l.min(y), h.max(y)));
    let (low, high) = if low.is_finite() { (low, high) } else { (0.0, 100.0) };
    let pad = ((high - low) * 0.08).max(1.0);
    let betas = dataset.cells.iter().map(|c| c.beta);
    let (b0, b1) = betas.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), b| (l.min(b), h.max(b)));
    let (b0, b1) = if b0.is_finite() { (b0, b1) } else { (0.0, 1.0) };
    let bpad = ((b1 - b0) * 0.08).max(0.5);
    let x_range = (b0 - bpad)..(b1 + bpad);

    let mut builder = ChartBuilder::on(area);
    builder.margin(10);
    if with_text {
        builder.caption(&dataset.name, (FONT, 15)).x_label_area_size(30).y_label_area_size(44);
    }
    let mut chart = builder.build_cartesian_2d(x_range.clone(), (low - pad)..(high + pad))?;
    if with_text {
        chart.configure_mesh().x_desc("β").y_desc("score").max_light_lines(0).label_style((FONT, 11)).draw()?;
    }
    for (value, colour, label) in lines {
        let line = [(x_range.start, value), (x_range.end, value)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    for (i, (lr, points)) in series.iter().enumerate() {
        let colour = SCORES[i % SCORES.len()];
        let bars =
            points.iter().map(|&(b, m, s)| ErrorBar::new_vertical(b, m - s, m, m + s, colour.stroke_width(2), 8));
        chart.draw_series(bars)?;
        let label = match lr {
            None => "mean ± s.e. over seeds".to_string(),
            Some(lr) => format!("policy.lr = {lr}: mean ± s.e."),
        };
        chart
            .draw_series(LineSeries::new(points.iter().map(|&(b, m, _)| (b, m)), colour.stroke_width(1)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|&(b, m, _)| Circle::new((b, m), 3, colour.filled())))?;
    }
    if with_text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 11))
            .draw()?;
    }
    Ok(())
}
