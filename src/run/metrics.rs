//! The metrics log, `metrics.jsonl`: one JSON object per line, each with the `stage`, the
//! stage's own `step` counter and `time_s`, plus any numeric fields (losses, Q statistics,
//! entropies, steps per second...). Non-finite numbers are written as `null`.
//!
//! Each record is flushed as soon as it is written, so a crash loses at most the line being
//! written; the reader skips such a truncated last line, and reopening the log for a resumed
//! run cuts it off before appending.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Stage;

/// Appends records to a metrics log.
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
    opened: Instant,
    /// `time_s` of the log's last record when it was opened, so that a resumed run's clock
    /// continues from where it stopped rather than counting the time it was not running.
    time_offset_s: f64,
    /// Records in the log.
    records: usize,
}

impl MetricsWriter {
    /// Opens the log for appending, creating it if needed and dropping a truncated last line.
    pub fn open(path: &Path) -> Result<Self> {
        let error = |e: std::io::Error| anyhow!("cannot open metrics log {}: {e}", path.display());
        if path.exists() {
            drop_partial_last_line(path).map_err(error)?;
        }
        let records = read_metrics(path)?;
        let time_offset_s =
            records.iter().rev().find_map(|record| record.get("time_s").and_then(Value::as_f64)).unwrap_or(0.0);
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(error)?;
        Ok(Self { path: path.to_path_buf(), file, opened: Instant::now(), time_offset_s, records: records.len() })
    }

    /// Opens the log keeping only its first `keep` records: a resumed run drops what was
    /// logged after its last checkpoint, since it computes those steps again.
    pub fn open_truncated(path: &Path, keep: usize) -> Result<Self> {
        let records = read_metrics(path)?;
        if records.len() < keep {
            bail!(
                "metrics log {} has {} records, fewer than the {keep} the run's state counts: it was cut short or replaced",
                path.display(),
                records.len()
            );
        }
        if records.len() > keep {
            // The kept lines are copied as they are, never parsed and printed again.
            let text =
                fs::read_to_string(path).map_err(|e| anyhow!("cannot read metrics log {}: {e}", path.display()))?;
            let mut end = 0;
            let mut kept = 0;
            for line in text.split_inclusive('\n') {
                if kept == keep {
                    break;
                }
                end += line.len();
                kept += usize::from(!line.trim().is_empty());
            }
            super::write_atomic(path, &text.as_bytes()[..end])?;
        }
        Self::open(path)
    }

    /// Records in the log so far.
    pub fn records(&self) -> usize {
        self.records
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record of numeric fields.
    pub fn record(&mut self, stage: Stage, step: u64, fields: &BTreeMap<String, f64>) -> Result<()> {
        let fields: Map<String, Value> = fields.iter().map(|(key, &value)| (key.clone(), Value::from(value))).collect();
        self.record_json(stage, step, fields)
    }

    /// Writes one record of the fields of `fields`, a struct (or map) of numbers.
    pub fn record_fields(&mut self, stage: Stage, step: u64, fields: &impl Serialize) -> Result<()> {
        match serde_json::to_value(fields).context("cannot encode a metrics record")? {
            Value::Object(fields) => self.record_json(stage, step, fields),
            other => bail!("a metrics record must be an object of fields, not {other}"),
        }
    }

    /// Writes one record of arbitrary JSON fields; `stage`, `step` and `time_s` are added (and
    /// win over fields of the same name).
    pub fn record_json(&mut self, stage: Stage, step: u64, fields: Map<String, Value>) -> Result<()> {
        let mut record = Map::new();
        record.insert("stage".into(), Value::from(stage.name()));
        record.insert("step".into(), Value::from(step));
        record.insert("time_s".into(), Value::from(self.time_offset_s + self.opened.elapsed().as_secs_f64()));
        for (key, value) in fields {
            record.entry(key).or_insert(value);
        }
        let mut line = serde_json::to_string(&record).context("cannot encode a metrics record")?;
        line.push('\n');
        // One write per line, flushed at once: a crash cuts at most the last line.
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| anyhow!("cannot write to metrics log {}: {e}", self.path.display()))?;
        self.records += 1;
        Ok(())
    }
}

/// Every record of a metrics log, in order. A missing file has none; a last line that is not
/// valid JSON (cut off by a crash) is skipped; any other bad line is an error naming it.
pub fn read_metrics(path: &Path) -> Result<Vec<Value>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => bail!("cannot read metrics log {}: {e}", path.display()),
    };
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()).collect();
    let mut records = Vec::with_capacity(lines.len());
    for (position, &(index, line)) in lines.iter().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(record @ Value::Object(_)) => records.push(record),
            _ if position + 1 == lines.len() => break,
            _ => bail!("metrics log {} line {} is not a JSON object", path.display(), index + 1),
        }
    }
    Ok(records)
}

/// Ends the file with its last complete record: a trailing fragment without its newline is
/// cut off, unless it is a whole record that only lacks the newline, which is then added.
fn drop_partial_last_line(path: &Path) -> std::io::Result<()> {
    let bytes = fs::read(path)?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete == bytes.len() {
        return Ok(());
    }
    let mut file = OpenOptions::new().write(true).open(path)?;
    match serde_json::from_slice::<Value>(&bytes[complete..]) {
        Ok(Value::Object(_)) => {
            file.seek(SeekFrom::End(0))?;
            file.write_all(b"\n")
        }
        _ => file.set_len(complete as u64),
    }
}
