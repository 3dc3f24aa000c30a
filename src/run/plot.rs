//! Learning curves from `metrics.jsonl`: one small panel per metric, the x axis the global
//! step (each stage's steps placed after the previous stage's), every stage in its own colour
//! with a dashed line where it begins. The runs of several seeds can be overlaid instead, one
//! colour per seed ([`plot_seed_curves`]).
//!
//! Missing and non-finite values break a curve instead of failing, and an empty log gives a
//! placeholder panel, so the plot can be drawn at any moment of a run. Text needs a TrueType
//! font (see `crate::font`); without one the panels are drawn without text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBColor;

use crate::font::{font_registered, FONT};
use serde_json::Value;

use super::metrics::read_metrics;

/// Width and height in pixels of one panel.
const PANEL_PX: (u32, u32) = (420, 260);
/// Panels per row.
const COLUMNS: usize = 3;
/// Height in pixels of the strip above the panels holding the title and the stage legend.
const HEADER_PX: u32 = 40;

/// Smallest width in pixels of the whole figure.
const MIN_WIDTH_PX: u32 = 840;

/// Fields of every record that are not metrics.
const RECORD_KEYS: [&str; 3] = ["stage", "step", "time_s"];

/// Colours of the stages (or seeds) in their usual order; more reuse them.
const STAGE_COLOURS: [RGBColor; 10] = [
    RGBColor(50, 90, 170),
    RGBColor(120, 120, 120),
    RGBColor(30, 140, 70),
    RGBColor(210, 80, 30),
    RGBColor(130, 60, 160),
    RGBColor(200, 160, 20),
    RGBColor(20, 160, 170),
    RGBColor(220, 90, 150),
    RGBColor(100, 60, 30),
    RGBColor(0, 0, 0),
];

/// Writes the learning curves of the metrics log `metrics_path` to `png_path` (a `.png`).
pub fn plot_learning_curves(metrics_path: &Path, png_path: &Path) -> Result<()> {
    let is_png = png_path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    ensure!(is_png, "plot file {} must end in .png", png_path.display());
    let curves = Curves::from_records(&read_metrics(metrics_path)?);
    render(&curves, png_path, font_registered()).with_context(|| format!("cannot write plot {}", png_path.display()))
}

/// Overlays the learning curves of several runs of one task (the seeds of a multi-seed run),
/// `runs` naming each run and its metrics log: one colour per run, every stage of a run on
/// one line, the stage boundaries the first run's.
pub fn plot_seed_curves(runs: &[(String, PathBuf)], png_path: &Path) -> Result<()> {
    let is_png = png_path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    ensure!(is_png, "plot file {} must end in .png", png_path.display());
    let labels: Vec<String> = runs.iter().map(|(label, _)| label.clone()).collect();
    let curves =
        runs.iter().map(|(_, path)| Ok(Curves::from_records(&read_metrics(path)?))).collect::<Result<Vec<_>>>()?;
    let overlay = Curves::overlay(&labels, &curves);
    render(&overlay, png_path, font_registered()).with_context(|| format!("cannot write plot {}", png_path.display()))
}

/// The metrics of a log arranged for drawing.
#[derive(Debug, Default)]
struct Curves {
    /// Stage names in the order they first appear.
    stages: Vec<String>,
    /// Global step at which each stage starts.
    stage_starts: Vec<f64>,
    /// Metrics in the order they first appear.
    metrics: Vec<Metric>,
    last_step: f64,
}

/// (global step, value) pairs sorted by step, `None` where the value is missing or not finite.
type Points = Vec<(f64, Option<f64>)>;

/// One metric's points, one list per stage.
#[derive(Debug)]
struct Metric {
    name: String,
    per_stage: Vec<Points>,
}

impl Curves {
    fn from_records(records: &[Value]) -> Self {
        let mut curves = Curves::default();
        let mut stage_lengths: Vec<f64> = Vec::new();
        // (stage index, step within the stage, record)
        let mut located = Vec::with_capacity(records.len());
        for record in records {
            let Some(object) = record.as_object() else { continue };
            let stage = object.get("stage").and_then(Value::as_str).unwrap_or("?");
            let Some(step) = object.get("step").and_then(Value::as_f64).filter(|s| s.is_finite()) else { continue };
            let index = curves.stages.iter().position(|s| s == stage).unwrap_or_else(|| {
                curves.stages.push(stage.to_string());
                stage_lengths.push(0.0);
                curves.stages.len() - 1
            });
            stage_lengths[index] = stage_lengths[index].max(step);
            located.push((index, step, object));
        }
        let mut start = 0.0;
        for length in &stage_lengths {
            curves.stage_starts.push(start);
            start += length;
        }
        curves.last_step = start;

        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for (stage, step, object) in located {
            let x = curves.stage_starts[stage] + step;
            for (key, value) in object {
                if RECORD_KEYS.contains(&key.as_str()) || !(value.is_number() || value.is_null()) {
                    continue;
                }
                let slot = *by_name.entry(key.clone()).or_insert_with(|| {
                    curves.metrics.push(Metric { name: key.clone(), per_stage: vec![Vec::new(); curves.stages.len()] });
                    curves.metrics.len() - 1
                });
                curves.metrics[slot].per_stage[stage].push((x, value.as_f64().filter(|v| v.is_finite())));
            }
        }
        for metric in &mut curves.metrics {
            for points in &mut metric.per_stage {
                // A resumed stage logs again from its last checkpoint: keep the later record.
                points.reverse();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                points.dedup_by(|later, earlier| later.0 == earlier.0);
            }
        }
        curves
    }

    /// Several runs' curves as one: run r takes the place of stage r (its colour and its
    /// name in the header), its stages joined into one line with a break between them.
    fn overlay(labels: &[String], runs: &[Curves]) -> Self {
        let first = runs.first();
        let mut out = Curves {
            stages: labels.to_vec(),
            stage_starts: first.map(|c| c.stage_starts.clone()).unwrap_or_default(),
            metrics: Vec::new(),
            last_step: runs.iter().map(|c| c.last_step).fold(0.0, f64::max),
        };
        for (r, run) in runs.iter().enumerate() {
            for metric in &run.metrics {
                let slot = out.metrics.iter().position(|m| m.name == metric.name).unwrap_or_else(|| {
                    out.metrics.push(Metric { name: metric.name.clone(), per_stage: vec![Vec::new(); runs.len()] });
                    out.metrics.len() - 1
                });
                let mut line: Points = Vec::new();
                for points in metric.per_stage.iter().filter(|p| !p.is_empty()) {
                    if !line.is_empty() {
                        line.push((points[0].0, None));
                    }
                    line.extend(points);
                }
                out.metrics[slot].per_stage[r] = line;
            }
        }
        out
    }
}

impl Curves {
    /// The metrics that get a panel: all but the `X_min` and `X_max` of a metric X, which are
    /// drawn as bars around X in X's panel.
    fn panels(&self) -> Vec<&Metric> {
        self.metrics.iter().filter(|m| self.band_of(&m.name).is_none()).collect()
    }

    /// For `X_min` or `X_max`, the metric X when it and both of its bounds exist.
    fn band_of(&self, name: &str) -> Option<&Metric> {
        let base = name.strip_suffix("_min").or_else(|| name.strip_suffix("_max"))?;
        self.band(base).map(|_| self.metric(base).expect("band() checked it"))
    }

    /// The lower and upper bounds logged beside metric `name`, if both are.
    fn band(&self, name: &str) -> Option<(&Metric, &Metric)> {
        self.metric(name)?;
        Some((self.metric(&format!("{name}_min"))?, self.metric(&format!("{name}_max"))?))
    }

    fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

fn render(curves: &Curves, path: &Path, with_text: bool) -> Result<()> {
    let shown = curves.panels();
    let panels = shown.len().max(1);
    let columns = panels.min(COLUMNS);
    let rows = panels.div_ceil(columns);
    // Wide enough for the header's title and stage names even with a single panel.
    let size = ((PANEL_PX.0 * columns as u32).max(MIN_WIDTH_PX), HEADER_PX + PANEL_PX.1 * rows as u32);

    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(HEADER_PX);
    if with_text {
        draw_header(&header, curves)?;
    }
    let areas = body.split_evenly((rows, columns));
    if curves.metrics.is_empty() {
        draw_placeholder(&areas[0], with_text)?;
    }
    for (area, metric) in areas.iter().zip(shown) {
        draw_metric(area, curves, metric, with_text)?;
    }
    root.present()?;
    Ok(())
}

/// The title and one coloured name per stage.
fn draw_header(area: &DrawingArea<BitMapBackend, Shift>, curves: &Curves) -> Result<()> {
    let middle = (HEADER_PX / 2) as i32;
    let title = TextStyle::from((FONT, 18).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw_text("learning curves (x: step over all stages)", &title, (10, middle))?;
    let mut x = 400;
    for (i, stage) in curves.stages.iter().enumerate() {
        let colour = stage_colour(i);
        let style = TextStyle::from((FONT, 16).into_font()).color(&colour).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(stage, &style, (x, middle))?;
        x += 16 + 9 * stage.chars().count() as i32;
    }
    Ok(())
}

/// The panel of an empty log.
fn draw_placeholder(area: &DrawingArea<BitMapBackend, Shift>, with_text: bool) -> Result<()> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(10);
    if with_text {
        builder.caption("no metrics yet", (FONT, 15));
    }
    let chart = builder.build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart.plotting_area().draw(&Rectangle::new([(0.0, 0.0), (1.0, 1.0)], BLACK.stroke_width(1)))?;
    Ok(())
}

/// One metric: a curve per stage, broken at missing values, and the stage boundaries.
fn draw_metric(
    area: &DrawingArea<BitMapBackend, Shift>,
    curves: &Curves,
    metric: &Metric,
    with_text: bool,
) -> Result<()> {
    let Metric { name, per_stage } = metric;
    let band = curves.band(name);
    let bounds = band.into_iter().flat_map(|(low, high)| low.per_stage.iter().chain(&high.per_stage));
    let values = per_stage.iter().chain(bounds).flatten().filter_map(|&(_, y)| y);
    let range = values.fold(None, |range: Option<(f64, f64)>, y| match range {
        Some((low, high)) => Some((low.min(y), high.max(y))),
        None => Some((y, y)),
    });
    let caption = if range.is_some() { name.to_string() } else { format!("{name} (no values)") };
    let (low, high) = padded(range.unwrap_or((0.0, 1.0)));
    let x_range = 0.0..curves.last_step.max(1.0);

    let mut builder = ChartBuilder::on(area);
    builder.margin(8);
    if with_text {
        builder.caption(&caption, (FONT, 15)).x_label_area_size(22).y_label_area_size(52);
    }
    let mut chart = builder.build_cartesian_2d(x_range, low..high)?;
    if with_text {
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(5)
            .x_label_formatter(&|&step| step_label(step))
            .max_light_lines(0)
            .label_style((FONT, 11))
            .draw()?;
    } else {
        let frame = Rectangle::new([(0.0, low), (curves.last_step.max(1.0), high)], BLACK.stroke_width(1));
        chart.plotting_area().draw(&frame)?;
    }
    for &start in curves.stage_starts.iter().skip(1) {
        let style = RGBColor(160, 160, 160).stroke_width(1);
        chart.draw_series(DashedLineSeries::new([(start, low), (start, high)], 4, 4, style))?;
    }
    for (i, points) in per_stage.iter().enumerate() {
        let colour = stage_colour(i);
        if let Some((lows, highs)) = band {
            // A bar from the lowest to the highest value at every point that has both.
            let bars = points.iter().filter_map(|&(x, y)| {
                let at = |m: &Metric| m.per_stage[i].iter().find(|p| p.0 == x).and_then(|p| p.1);
                Some(ErrorBar::new_vertical(x, at(lows)?, y?, at(highs)?, colour.mix(0.5).stroke_width(1), 6))
            });
            chart.draw_series(bars)?;
        }
        for segment in points.split(|(_, y)| y.is_none()) {
            let segment: Vec<(f64, f64)> = segment.iter().filter_map(|&(x, y)| Some((x, y?))).collect();
            if segment.len() == 1 {
                chart.draw_series(segment.iter().map(|&p| Circle::new(p, 2, colour.filled())))?;
            } else {
                chart.draw_series(LineSeries::new(segment, colour.stroke_width(2)))?;
            }
        }
    }
    Ok(())
}

/// The value range widened by 5 % on each side, and never empty.
fn padded((low, high): (f64, f64)) -> (f64, f64) {
    let pad = if high > low { 0.05 * (high - low) } else { (0.1 * low.abs()).max(1e-3) };
    (low - pad, high + pad)
}

/// A step count as a short label: 950, 20k, 1.2M.
fn step_label(step: f64) -> String {
    if step >= 1e6 {
        format!("{:.1}M", step / 1e6)
    } else if step >= 1e4 {
        format!("{:.0}k", step / 1e3)
    } else {
        format!("{step:.0}")
    }
}

fn stage_colour(index: usize) -> RGBColor {
    STAGE_COLOURS[index % STAGE_COLOURS.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stages_follow_each_other_on_the_step_axis() {
        let records = [
            json!({"stage": "behaviour", "step": 100, "loss": 1.0}),
            json!({"stage": "behaviour", "step": 200, "loss": null}),
            json!({"stage": "critic", "step": 50, "q_mean": 3.0}),
        ];
        let curves = Curves::from_records(&records);
        assert_eq!(curves.stages, ["behaviour", "critic"]);
        assert_eq!(curves.stage_starts, [0.0, 200.0]);
        assert_eq!(curves.last_step, 250.0);
        let q = &curves.metrics[1];
        assert_eq!(q.name, "q_mean");
        assert_eq!(q.per_stage[1], [(250.0, Some(3.0))]);
        assert_eq!(curves.metrics[0].per_stage[0], [(100.0, Some(1.0)), (200.0, None)]);
    }

    #[test]
    fn a_repeated_step_keeps_the_later_record() {
        let records = [
            json!({"stage": "policy", "step": 10, "loss": 1.0}),
            json!({"stage": "policy", "step": 20, "loss": 2.0}),
            json!({"stage": "policy", "step": 20, "loss": 5.0}),
        ];
        let curves = Curves::from_records(&records);
        assert_eq!(curves.metrics[0].per_stage[0], [(10.0, Some(1.0)), (20.0, Some(5.0))]);
    }

    #[test]
    fn seeds_overlay_one_line_each_with_breaks_between_stages() {
        let seed = |loss: f64| {
            Curves::from_records(&[
                json!({"stage": "behaviour", "step": 100, "loss": loss}),
                json!({"stage": "policy", "step": 50, "loss": loss + 1.0}),
                json!({"stage": "policy", "step": 60, "q": 2.0}),
            ])
        };
        let labels = ["seed0".to_string(), "seed1".to_string()];
        let overlay = Curves::overlay(&labels, &[seed(1.0), seed(3.0)]);
        assert_eq!(overlay.stages, labels);
        assert_eq!(overlay.stage_starts, [0.0, 100.0]);
        assert_eq!(overlay.last_step, 160.0);
        let loss = &overlay.metrics[0];
        assert_eq!(loss.per_stage[1], [(100.0, Some(3.0)), (150.0, None), (150.0, Some(4.0))]);
        assert_eq!(overlay.metrics[1].per_stage[0], [(160.0, Some(2.0))]);
        let path = std::env::temp_dir().join(format!("qipo-run-plot-seeds-{}.png", std::process::id()));
        render(&overlay, &path, false).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn bounds_of_a_metric_are_drawn_in_its_panel() {
        let records = [
            json!({"stage": "policy", "step": 10, "eval_score": 5.0, "eval_score_min": 1.0, "eval_score_max": 9.0}),
            json!({"stage": "policy", "step": 20, "loss": 1.0, "score_min": 3.0}),
        ];
        let curves = Curves::from_records(&records);
        let panels: Vec<&str> = curves.panels().iter().map(|m| m.name.as_str()).collect();
        // score_min has no score beside it, so it keeps its own panel.
        assert_eq!(panels, ["eval_score", "loss", "score_min"]);
        let (low, high) = curves.band("eval_score").unwrap();
        assert_eq!((low.name.as_str(), high.name.as_str()), ("eval_score_min", "eval_score_max"));
        let path = std::env::temp_dir().join(format!("qipo-run-plot-band-{}.png", std::process::id()));
        render(&curves, &path, false).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn step_labels_are_short() {
        assert_eq!(step_label(950.0), "950");
        assert_eq!(step_label(20_000.0), "20k");
        assert_eq!(step_label(1_250_000.0), "1.2M");
    }

    #[test]
    fn curves_without_text_render() {
        let path = std::env::temp_dir().join(format!("qipo-run-plot-notext-{}.png", std::process::id()));
        let curves = Curves::from_records(&[json!({"stage": "critic", "step": 1, "loss": 0.5})]);
        render(&curves, &path, false).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
