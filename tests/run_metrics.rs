//! The metrics log: appending, reading, NaN as null, and surviving a crash mid-line.

use std::collections::BTreeMap;
use std::io::Write;

use qipo::run::{read_metrics, MetricsWriter, Stage};
use serde_json::{json, Map, Value};

fn fields(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|&(key, value)| (key.to_string(), value)).collect()
}

#[test]
fn records_are_appended_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut writer = MetricsWriter::open(&path).unwrap();
    writer.record(Stage::Behaviour, 100, &fields(&[("loss", 0.5), ("steps_per_s", 250.0)])).unwrap();
    let mut extra = Map::new();
    extra.insert("q_mean".into(), json!(3.25));
    extra.insert("step".into(), json!(-1));
    writer.record_json(Stage::Critic, 7, extra).unwrap();

    // Written through at once: readable while the writer is still open.
    let records = read_metrics(&path).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["stage"], "behaviour");
    assert_eq!(records[0]["step"], 100);
    assert_eq!(records[0]["loss"], 0.5);
    assert!(records[0]["time_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(records[1]["stage"], "critic");
    assert_eq!(records[1]["step"], 7, "the record's own step wins over a field of that name");
    assert_eq!(records[1]["q_mean"], 3.25);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.ends_with('\n'));
}

#[test]
fn non_finite_values_are_written_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut writer = MetricsWriter::open(&path).unwrap();
    writer.record(Stage::Policy, 1, &fields(&[("loss", f64::NAN), ("ess", f64::INFINITY), ("beta", 3.0)])).unwrap();
    let record = &read_metrics(&path).unwrap()[0];
    assert_eq!(record["loss"], Value::Null);
    assert_eq!(record["ess"], Value::Null);
    assert_eq!(record["beta"], 3.0);
}

#[test]
fn a_truncated_last_line_is_skipped_and_cut_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut writer = MetricsWriter::open(&path).unwrap();
    writer.record(Stage::Behaviour, 1, &fields(&[("loss", 2.0)])).unwrap();
    writer.record(Stage::Behaviour, 2, &fields(&[("loss", 1.0)])).unwrap();
    drop(writer);
    // A crash in the middle of the third record.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"stage\":\"behav").unwrap();

    let records = read_metrics(&path).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["loss"], 1.0);

    let mut resumed = MetricsWriter::open(&path).unwrap();
    resumed.record(Stage::Behaviour, 3, &fields(&[("loss", 0.5)])).unwrap();
    let records = read_metrics(&path).unwrap();
    assert_eq!(records.iter().map(|r| r["step"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    // The resumed clock continues from the last record rather than restarting at zero.
    assert!(records[2]["time_s"].as_f64().unwrap() >= records[1]["time_s"].as_f64().unwrap());
}

#[test]
fn a_whole_last_record_without_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    std::fs::write(&path, "{\"stage\":\"critic\",\"step\":1,\"time_s\":4.0}").unwrap();
    let mut writer = MetricsWriter::open(&path).unwrap();
    writer.record(Stage::Critic, 2, &BTreeMap::new()).unwrap();
    let records = read_metrics(&path).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records[1]["time_s"].as_f64().unwrap() >= 4.0);
}

#[test]
fn missing_and_empty_logs_have_no_records_and_a_bad_middle_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read_metrics(&dir.path().join("none.jsonl")).unwrap().is_empty());
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert!(read_metrics(&empty).unwrap().is_empty());

    let corrupt = dir.path().join("corrupt.jsonl");
    std::fs::write(&corrupt, "{\"step\":1}\nnot json\n{\"step\":3}\n").unwrap();
    let message = read_metrics(&corrupt).unwrap_err().to_string();
    assert!(message.contains("corrupt.jsonl") && message.contains("line 2"), "{message}");
}

#[test]
fn truncating_for_a_resume_keeps_the_kept_records_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    // Numbers that a parse-and-print round trip without exact float parsing changes in the
    // last digit.
    let kept = "{\"loss\":1.3406985402107239,\"stage\":\"behaviour\",\"step\":10,\"time_s\":0.30609340000000003}\n";
    let dropped = "{\"loss\":2.5,\"stage\":\"behaviour\",\"step\":20,\"time_s\":0.6}\n";
    std::fs::write(&path, format!("{kept}{dropped}")).unwrap();
    let records = qipo::run::read_metrics(&path).unwrap();
    assert_eq!(records[0]["loss"].as_f64(), Some(1.3406985402107239));
    let writer = MetricsWriter::open_truncated(&path, 1).unwrap();
    assert_eq!(writer.records(), 1);
    drop(writer);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
}
