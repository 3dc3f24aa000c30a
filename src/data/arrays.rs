//! Reading HDF5 arrays into flat Rust vectors, with the rank and dtype checks every field needs.
//!
//! Errors name the array by its path inside the file (`actions`, `episode_3/rewards`); the
//! caller adds the file name.

use anyhow::{bail, Context, Result};
use hdf5::types::{FloatSize, IntSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, Group, Location, LocationType};

use super::checks;

/// A 2-D float array as read from a file, converted to f32.
pub struct Matrix {
    /// `rows * columns` values, row-major.
    pub values: Vec<f32>,
    pub rows: usize,
    pub columns: usize,
}

/// The path of `name` inside `group`, without the leading '/', for messages.
pub fn member_path(group: &Group, name: &str) -> String {
    let parent = group.name();
    let parent = parent.trim_matches('/');
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Opens the array `name` of `group`, with a clear message when it is missing or is a group.
pub fn open(group: &Group, name: &str) -> Result<Dataset> {
    let path = member_path(group, name);
    if !group.link_exists(name) {
        bail!("missing dataset '{path}'");
    }
    match group.loc_type_by_name(name) {
        Ok(LocationType::Dataset) => group.dataset(name).with_context(|| format!("cannot open '{path}'")),
        Ok(LocationType::Group) => bail!("'{path}' is a group, expected an array"),
        _ => bail!("'{path}' is not an array"),
    }
}

/// Reads a (rows, columns) array of float32 or float64 values, checked to be finite.
pub fn read_matrix(group: &Group, name: &str) -> Result<Matrix> {
    let path = member_path(group, name);
    let dataset = open(group, name)?;
    let shape = dataset.shape();
    let &[rows, columns] = shape.as_slice() else {
        bail!("'{path}' should be a 2-D array (rows, features), found shape {shape:?}");
    };
    if columns == 0 {
        bail!("'{path}' has no features (shape {shape:?})");
    }
    let values = read_floats(&dataset, &path, columns)?;
    Ok(Matrix { values, rows, columns })
}

/// Reads a 1-D array of float32 or float64 values, checked to be finite.
pub fn read_vector(group: &Group, name: &str) -> Result<Vec<f32>> {
    let path = member_path(group, name);
    let dataset = open(group, name)?;
    ensure_rank_one(&dataset, &path)?;
    read_floats(&dataset, &path, 1)
}

/// Reads a 1-D array of flags stored as bool (h5py's enum) or uint8.
pub fn read_flags(group: &Group, name: &str) -> Result<Vec<bool>> {
    let path = member_path(group, name);
    let dataset = open(group, name)?;
    ensure_rank_one(&dataset, &path)?;
    match descriptor(&dataset, &path)? {
        TypeDescriptor::Boolean | TypeDescriptor::Unsigned(IntSize::U1) => {}
        other => bail!("'{path}' should hold bool or uint8 flags, found {other}"),
    }
    // HDF5 converts h5py's bool enum to uint8 itself.
    let bytes: Vec<u8> = dataset.read_raw().with_context(|| format!("cannot read '{path}'"))?;
    Ok(bytes.into_iter().map(|byte| byte != 0).collect())
}

/// A string attribute (h5py writes `str` as variable-length UTF-8), if there is a readable one.
pub fn read_string_attribute(location: &Location, name: &str) -> Option<String> {
    let attribute = location.attr(name).ok()?;
    if let Ok(text) = attribute.read_scalar::<VarLenUnicode>() {
        return Some(text.as_str().to_string());
    }
    let text = attribute.read_scalar::<VarLenAscii>().ok()?;
    Some(text.as_str().to_string())
}

fn ensure_rank_one(dataset: &Dataset, path: &str) -> Result<()> {
    let shape = dataset.shape();
    if shape.len() != 1 {
        bail!("'{path}' should be a 1-D array (rows,), found shape {shape:?}");
    }
    Ok(())
}

fn descriptor(dataset: &Dataset, path: &str) -> Result<TypeDescriptor> {
    let dtype = dataset.dtype().with_context(|| format!("cannot read the dtype of '{path}'"))?;
    dtype.to_descriptor().with_context(|| format!("'{path}' has an unsupported dtype"))
}

fn read_floats(dataset: &Dataset, path: &str, columns: usize) -> Result<Vec<f32>> {
    let values = match descriptor(dataset, path)? {
        TypeDescriptor::Float(FloatSize::U4) => {
            dataset.read_raw::<f32>().with_context(|| format!("cannot read '{path}'"))?
        }
        TypeDescriptor::Float(FloatSize::U8) => {
            let wide = dataset.read_raw::<f64>().with_context(|| format!("cannot read '{path}'"))?;
            narrow_to_f32(&wide, path, columns)?
        }
        other => bail!("'{path}' should hold float32 or float64 values, found {other}"),
    };
    checks::ensure_finite(path, &values, columns)?;
    Ok(values)
}

/// f64 to f32, refusing finite values too large for f32 rather than turning them into Inf.
fn narrow_to_f32(wide: &[f64], path: &str, columns: usize) -> Result<Vec<f32>> {
    let narrow: Vec<f32> = wide.iter().map(|&value| value as f32).collect();
    let overflow = wide.iter().zip(&narrow).position(|(w, n)| w.is_finite() && !n.is_finite());
    if let Some(index) = overflow {
        bail!("'{path}' has {} at row {}, too large for float32", wide[index], index / columns.max(1));
    }
    Ok(narrow)
}
