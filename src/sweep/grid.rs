//! The grid of a sweep: `--set key=v1,v2,...` settings, of which the policy stage's β and
//! learning rate may take several values. Behaviour pretraining, the support actions and the
//! critic depend on neither, so every cell of a seed shares them and the cells train as
//! copies of one policy stage; any other setting with several values would need runs of its
//! own.

use anyhow::{bail, ensure, Result};

/// The settings a sweep varies within a run's dispatches (see [`crate::rl::config::CopySettings`]).
pub const BETA_KEY: &str = "policy.beta";
pub const LR_KEY: &str = "policy.lr";

/// The `--set` settings of a sweep, split into those every cell shares and the grid's values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grid {
    /// `key=value` settings applied to every cell, in the order given.
    pub fixed: Vec<String>,
    /// β's values as given (`None`: the settings' own β).
    pub betas: Option<Vec<String>>,
    /// The policy learning rate's values as given (`None`: the settings' own, and the cells
    /// are named by β alone).
    pub lrs: Option<Vec<String>>,
}

impl Grid {
    /// Splits `settings` (each `key=value` or `key=v1,v2,...`). Commas inside brackets or
    /// quotes belong to one value (`policy_net.hidden=[256, 256]`).
    pub fn parse(settings: &[String]) -> Result<Self> {
        let mut grid = Grid::default();
        for setting in settings {
            let Some((key, value)) = setting.split_once('=') else {
                bail!("--set {setting}: expected KEY=VALUE or KEY=V1,V2,...");
            };
            let key = key.trim();
            let values = split_values(value);
            ensure!(
                values.iter().all(|v| !v.trim().is_empty()),
                "--set {setting}: an empty value (an empty grid trains nothing)"
            );
            let axis = match key {
                BETA_KEY => &mut grid.betas,
                LR_KEY => &mut grid.lrs,
                _ => {
                    if values.len() > 1 {
                        let why = match key.starts_with("policy.") {
                            true => "a policy-stage setting that is not set per copy",
                            false => "not a policy-stage setting: every cell shares the stages before it",
                        };
                        bail!(
                            "--set {setting}: only {BETA_KEY} and {LR_KEY} take several values in a sweep; {key} is {why}"
                        );
                    }
                    grid.fixed.push(format!("{key}={value}"));
                    continue;
                }
            };
            ensure!(axis.is_none(), "--set {key} is given twice: give its values once, comma-separated");
            let values: Vec<String> = values.iter().map(|v| v.trim().to_string()).collect();
            for (i, value) in values.iter().enumerate() {
                ensure!(!values[..i].contains(value), "--set {setting}: the value {value} is given twice");
            }
            *axis = Some(values);
        }
        Ok(grid)
    }
}

/// `value` split at the commas outside brackets and quotes.
fn split_values(value: &str) -> Vec<String> {
    let (mut values, mut current, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for ch in value.chars() {
        match (ch, quote) {
            ('"' | '\'', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                values.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    values.push(current);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sets: &[&str]) -> Result<Grid> {
        Grid::parse(&sets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn beta_and_lr_take_several_values_and_lists_stay_whole() {
        let grid = parse(&["policy.beta=0, 1,3", "policy_net.hidden=[12, 7]", "policy.steps=60"]).unwrap();
        assert_eq!(grid.betas, Some(vec!["0".into(), "1".into(), "3".into()]));
        assert_eq!(grid.lrs, None);
        assert_eq!(grid.fixed, vec!["policy_net.hidden=[12, 7]".to_string(), "policy.steps=60".to_string()]);
        let lr_grid = parse(&["policy.lr=1e-4,3e-4", "policy.beta=3"]).unwrap();
        let values = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!((lr_grid.lrs, lr_grid.betas), (values(&["1e-4", "3e-4"]), values(&["3"])));
        assert_eq!(parse(&["run.eval_env=\"a,b\""]).unwrap().fixed.len(), 1);
    }

    #[test]
    fn other_grids_and_empty_values_are_refused() {
        let critic = parse(&["critic.lr=1e-4,3e-4"]).unwrap_err().to_string();
        assert!(critic.contains("only policy.beta and policy.lr") && critic.contains("not a policy-stage"), "{critic}");
        let batch = parse(&["policy.batch=64,128"]).unwrap_err().to_string();
        assert!(batch.contains("not set per copy"), "{batch}");
        assert!(parse(&["policy.lr=1e-4", "policy.lr=1e-3"]).unwrap_err().to_string().contains("twice"));
        assert!(parse(&["policy.beta="]).unwrap_err().to_string().contains("empty"));
        assert!(parse(&["policy.beta=1,,2"]).unwrap_err().to_string().contains("empty"));
        assert!(parse(&["policy.beta=1,1"]).unwrap_err().to_string().contains("twice"));
        assert!(parse(&["policy.beta=1", "policy.beta=2"]).unwrap_err().to_string().contains("twice"));
        assert!(parse(&["policy.beta"]).unwrap_err().to_string().contains("KEY=VALUE"));
    }
}
