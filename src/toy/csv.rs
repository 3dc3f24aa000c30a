//! Toy data from a user's CSV file, and CSV writers for samples and data.
//!
//! The format: a header row of column names, then one row per point: any number of coordinate
//! columns followed by a last column named `energy`, e.g.
//!
//! ```text
//! x,y,energy
//! 0.5,-1.25,0.3
//! ```
//!
//! Blank lines are skipped; a UTF-8 byte-order mark and quoted fields (`"x","y","energy"`,
//! a name holding a comma) are accepted. Every problem is reported as one line naming the
//! file and, where it applies, the line and column.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::ToyData;

/// Why a CSV file could not be read as toy data. Lines are numbered from 1 as in an editor;
/// the header is line 1.
#[derive(Debug, thiserror::Error)]
pub enum ToyCsvError {
    #[error("{}: file not found", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{}: no header row (the file is empty)", path.display())]
    NoHeader { path: PathBuf },
    #[error("{}: the last header column must be named energy, found {found:?}", path.display())]
    NoEnergyColumn { path: PathBuf, found: String },
    #[error("{}: the header has no coordinate columns before energy", path.display())]
    NoCoordinateColumns { path: PathBuf },
    #[error("{}: line {line} has {found} fields, the header has {expected}", path.display())]
    RaggedRow { path: PathBuf, line: usize, found: usize, expected: usize },
    #[error("{}: line {line}, column {column} ({name}): {value:?} is not a number", path.display())]
    NotANumber { path: PathBuf, line: usize, column: usize, name: String, value: String },
    #[error("{}: line {line}, column {column} ({name}): {value:?} is not finite", path.display())]
    NotFinite { path: PathBuf, line: usize, column: usize, name: String, value: String },
    #[error("{}: {rows} data row(s), at least 2 are needed", path.display())]
    TooFewRows { path: PathBuf, rows: usize },
}

/// Reads toy data from the CSV file at `path` (see the module docs for the format).
pub fn load_csv(path: &Path) -> Result<ToyData, ToyCsvError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ToyCsvError::NotFound { path: path.to_path_buf() },
        _ => ToyCsvError::Unreadable { path: path.to_path_buf(), source },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ToyCsvError::Unreadable {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    parse_csv(&text, path)
}

/// Parses CSV text as toy data; `path` only names the source in errors.
pub fn parse_csv(text: &str, path: &Path) -> Result<ToyData, ToyCsvError> {
    let path_buf = || path.to_path_buf();
    let rows = crate::csv_rows::rows(text)
        .map_err(|error| ToyCsvError::Unreadable { path: path_buf(), source: io::Error::from(error) })?;
    let mut rows = rows.into_iter();

    let (_, header) = rows.next().ok_or_else(|| ToyCsvError::NoHeader { path: path_buf() })?;
    // A name quoted after a space (`x, "y"`) is not CSV quoting: its quotes are taken off here.
    let names: Vec<String> = header.iter().map(|name| name.trim_matches('"').trim().to_string()).collect();
    let last = names.last().cloned().unwrap_or_default();
    if !last.eq_ignore_ascii_case("energy") {
        return Err(ToyCsvError::NoEnergyColumn { path: path_buf(), found: last });
    }
    let dim = names.len() - 1;
    if dim == 0 {
        return Err(ToyCsvError::NoCoordinateColumns { path: path_buf() });
    }

    let mut points = Vec::new();
    let mut energies = Vec::new();
    for (line, fields) in rows {
        if fields.len() != names.len() {
            return Err(ToyCsvError::RaggedRow { path: path_buf(), line, found: fields.len(), expected: names.len() });
        }
        for (c, field) in fields.iter().enumerate() {
            let number = match field.parse::<f32>() {
                Ok(number) if number.is_finite() => number,
                parsed => {
                    let (path, column, name, value) = (path_buf(), c + 1, names[c].clone(), field.to_string());
                    return Err(match parsed {
                        Ok(_) => ToyCsvError::NotFinite { path, line, column, name, value },
                        Err(_) => ToyCsvError::NotANumber { path, line, column, name, value },
                    });
                }
            };
            if c < dim {
                points.push(number);
            } else {
                energies.push(number);
            }
        }
    }
    if energies.len() < 2 {
        return Err(ToyCsvError::TooFewRows { path: path_buf(), rows: energies.len() });
    }
    Ok(ToyData { points, dim, energies })
}

/// Writes a row-major `n × dim` sample as CSV with the header `x,y` (or `x0,x1,...` when
/// `dim != 2`).
pub fn write_samples_csv(path: &Path, points: &[f32], dim: usize) -> Result<()> {
    write_csv(path, points, dim, None)
}

/// Writes toy data with its energy column, in the format [`load_csv`] reads.
pub fn write_data_csv(path: &Path, data: &ToyData) -> Result<()> {
    data.validate()?;
    write_csv(path, &data.points, data.dim, Some(&data.energies))
}

fn write_csv(path: &Path, points: &[f32], dim: usize, energies: Option<&[f32]>) -> Result<()> {
    anyhow::ensure!(dim > 0, "cannot write {}: points need at least one coordinate", path.display());
    anyhow::ensure!(
        points.len().is_multiple_of(dim),
        "cannot write {}: {} values do not split into points of dimension {dim}",
        path.display(),
        points.len()
    );
    let mut names = coordinate_names(dim);
    if energies.is_some() {
        names.push("energy".to_string());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| anyhow::anyhow!("cannot write {}: {e}", path.display());
    out.write_record(&names).map_err(failed)?;
    for (i, point) in points.chunks_exact(dim).enumerate() {
        // `{}` prints the shortest text that parses back to the same f32.
        let mut fields: Vec<String> = point.iter().map(|value| value.to_string()).collect();
        if let Some(energies) = energies {
            fields.push(energies[i].to_string());
        }
        out.write_record(&fields).map_err(failed)?;
    }
    let out = out.into_inner().map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error()))?;
    fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

fn coordinate_names(dim: usize) -> Vec<String> {
    if dim == 2 {
        vec!["x".to_string(), "y".to_string()]
    } else {
        (0..dim).map(|i| format!("x{i}")).collect()
    }
}
