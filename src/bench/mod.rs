//! Benchmarks, shared by `qipo bench` and `cargo bench`. Speed is measured here, never
//! asserted in tests.

pub mod kernels;
pub mod peak;
pub mod summary;
pub mod train;

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::report::Report;

/// Hands a benchmark's results to `out`: as one JSON object with `json`, else as `table`.
/// With `json_file`, the JSON object also goes to that file, so one measurement gives both.
pub fn report<T: Serialize>(
    results: &T,
    json: bool,
    json_file: Option<&Path>,
    table: impl FnOnce(&T) -> String,
    out: &dyn Report,
) -> Result<()> {
    let text = serde_json::to_string_pretty(results)?;
    if let Some(path) = json_file {
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        out.output(&format!("{text}\n"));
    } else {
        out.output(&table(results));
    }
    Ok(())
}
