//! Learning curves are written as PNG for normal, empty and NaN-containing logs.

use std::collections::BTreeMap;
use std::path::Path;

use qipo::run::{plot_learning_curves, MetricsWriter, Stage};

/// A record to log: stage, step and named values.
type Record<'a> = (Stage, u64, &'a [(&'a str, f64)]);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(PNG_SIGNATURE), "{} is not a PNG", path.display());
}

fn write_log(path: &Path, records: &[Record]) {
    let mut writer = MetricsWriter::open(path).unwrap();
    for &(stage, step, pairs) in records {
        let fields: BTreeMap<String, f64> = pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect();
        writer.record(stage, step, &fields).unwrap();
    }
}

#[test]
fn a_whole_run_is_plotted() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("metrics.jsonl");
    let mut records = Vec::new();
    for step in (50..=300).step_by(50) {
        let decay = 1.0 / step as f64;
        records.push((Stage::Behaviour, step, vec![("loss", decay), ("steps_per_s", 900.0)]));
        records.push((
            Stage::Critic,
            step,
            vec![("loss", 2.0 * decay), ("q_mean", step as f64), ("steps_per_s", 600.0)],
        ));
        records.push((Stage::Policy, step, vec![("loss", decay), ("ess", 3.0), ("entropy", -decay)]));
    }
    records.sort_by_key(|r| r.0);
    let borrowed: Vec<Record> = records.iter().map(|(s, n, f)| (*s, *n, f.as_slice())).collect();
    write_log(&metrics, &borrowed);
    let png = dir.path().join("curves.png");
    plot_learning_curves(&metrics, &png).unwrap();
    assert_png(&png);
}

#[test]
fn an_empty_or_missing_log_gives_a_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("metrics.jsonl");
    std::fs::write(&empty, "").unwrap();
    let png = dir.path().join("empty.png");
    plot_learning_curves(&empty, &png).unwrap();
    assert_png(&png);

    let png = dir.path().join("missing.png");
    plot_learning_curves(&dir.path().join("none.jsonl"), &png).unwrap();
    assert_png(&png);
}

#[test]
fn nan_constant_and_lonely_values_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("metrics.jsonl");
    write_log(
        &metrics,
        &[
            (Stage::Behaviour, 10, &[("loss", f64::NAN), ("grad_norm", 1.0)]),
            (Stage::Behaviour, 20, &[("loss", 0.4), ("grad_norm", 1.0)]),
            (Stage::Behaviour, 30, &[("loss", f64::NAN), ("grad_norm", 1.0)]),
            (Stage::Behaviour, 40, &[("loss", 0.3), ("grad_norm", 1.0)]),
            (Stage::Critic, 10, &[("all_nan", f64::NAN)]),
            (Stage::Critic, 20, &[("all_nan", f64::INFINITY), ("huge", 1e300)]),
        ],
    );
    // A truncated last line and a record without fields are tolerated too.
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"stage\":\"policy\",\"step\":5,\"time_s\":1.0}\n{\"stage\":\"pol");
    std::fs::write(&metrics, text).unwrap();

    let png = dir.path().join("nan.png");
    plot_learning_curves(&metrics, &png).unwrap();
    assert_png(&png);
}

#[test]
fn the_plot_file_must_be_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let message = plot_learning_curves(&dir.path().join("m.jsonl"), &dir.path().join("curves.jpg")).unwrap_err();
    assert!(message.to_string().contains("curves.jpg"), "{message}");
}
