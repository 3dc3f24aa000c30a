//! Validation of the values read from a file: errors for data that would poison training,
//! warnings for data that is merely unusual.

use anyhow::{bail, Result};

/// How far outside [-1, 1] an action may lie before it is reported (float noise in converters).
pub const ACTION_BOUND_TOLERANCE: f32 = 1e-3;

/// Fails on the first NaN or infinity, naming the array and the row it is in.
pub fn ensure_finite(array: &str, values: &[f32], columns: usize) -> Result<()> {
    if let Some(index) = values.iter().position(|value| !value.is_finite()) {
        let kind = if values[index].is_nan() { "NaN" } else { "Inf" };
        bail!("'{array}' has {kind} at row {}", index / columns.max(1));
    }
    Ok(())
}

/// Fails unless every named array has `expected` rows.
pub fn ensure_rows(expected: (&str, usize), arrays: &[(&str, usize)]) -> Result<()> {
    let (reference, reference_rows) = expected;
    for &(array, rows) in arrays {
        if rows != reference_rows {
            bail!("length mismatch: '{array}' has {rows} rows but '{reference}' has {reference_rows}");
        }
    }
    Ok(())
}

/// D4RL and Minari actions live in [-1, 1]; values outside it usually mean the actions were
/// stored before clipping or in other units. Sampled actions are clipped to [-1, 1], so the
/// policy cannot reproduce such actions, but the data is still usable: warn, don't fail.
pub fn action_bound_warning(array: &str, actions: &[f32], act_dim: usize) -> Option<String> {
    let limit = 1.0 + ACTION_BOUND_TOLERANCE;
    let outside = || actions.iter().enumerate().filter(|(_, value)| value.abs() > limit);
    let (first, _) = outside().next()?;
    let largest = outside().map(|(_, value)| value.abs()).fold(0.0_f32, f32::max);
    Some(format!(
        "'{array}': {} of {} values outside [-1, 1] (first at row {}, largest magnitude {largest})",
        outside().count(),
        actions.len(),
        first / act_dim.max(1),
    ))
}
