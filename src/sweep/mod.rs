//! `qipo sweep`: a grid of seeds × β (× policy learning rate) on one or more datasets, each
//! dataset's grid trained in the same dispatches (behaviour, support actions and critic once
//! per seed, the policy stage once per seed and cell), and one results table against the
//! paper.
//!
//! A sweep directory holds `sweep.json` (the plan: datasets, seeds, settings, the grid's
//! values), one folder per dataset with a multi-seed run directory per cell
//! (`<dataset>/beta<β>/`, or `<dataset>/beta<β>-lr<lr>/` when the grid varies the learning
//! rate: the directory `qipo train --seeds N` makes, so a cell can be evaluated, compared or
//! resumed alone), and the results: `results.md`, `results.json` and `results.png`.

pub mod grid;
pub mod paper;
pub mod plot;
pub mod results;
pub mod slurm;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::run::write_atomic;

/// The file that marks a sweep directory and holds its plan.
pub const PLAN_FILE: &str = "sweep.json";

/// What a sweep trains: everything its command line decided, with each dataset's facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    pub datasets: Vec<SweepDataset>,
    /// The first seed and how many consecutive seeds each cell trains.
    pub seed: u64,
    pub seeds: u64,
    pub preset: Option<String>,
    pub config: Option<PathBuf>,
    /// The settings every cell shares (`key=value`, applied in order).
    pub fixed: Vec<String>,
}

/// One dataset of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepDataset {
    /// The dataset as given (a file, a Minari id or an OGBench task).
    pub source: PathBuf,
    /// Its folder in the sweep directory.
    pub name: String,
    /// The D4RL task it is, if any (for the paper's score).
    pub task: Option<String>,
    /// The values of β its cells train, in order.
    pub betas: Vec<f64>,
    /// The policy learning rates its cells train, in order; empty when the grid does not
    /// vary it (every cell takes the settings' own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lrs: Vec<f64>,
    /// The normalised score of the dataset's own episodes, if it has references.
    pub dataset_score: Option<f64>,
}

/// One cell of a dataset's grid: a β, and a learning rate where the grid varies it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridCell {
    pub beta: f64,
    pub lr: Option<f64>,
}

impl SweepDataset {
    /// Its cells: learning rate after learning rate, each with every β in turn.
    pub fn cells(&self) -> Vec<GridCell> {
        let lrs: Vec<Option<f64>> = match self.lrs.is_empty() {
            true => vec![None],
            false => self.lrs.iter().copied().map(Some).collect(),
        };
        lrs.into_iter().flat_map(|lr| self.betas.iter().map(move |&beta| GridCell { beta, lr })).collect()
    }
}

impl SweepPlan {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(PLAN_FILE)
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let file = Self::path(dir);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{} is not a sweep directory: cannot read {}", dir.display(), file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid sweep plan", file.display()))
    }

    /// Writes the plan into `dir`, or checks that the sweep already there is this one (the
    /// same command again continues it).
    pub fn write_or_check(&self, dir: &Path) -> Result<()> {
        if Self::path(dir).exists() {
            let existing = Self::read(dir)?;
            ensure!(
                existing == *self,
                "{} already holds another sweep (other datasets, seeds or settings): choose another --out",
                dir.display()
            );
            return Ok(());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(&Self::path(dir), &serde_json::to_vec_pretty(self)?)
    }

    /// The seeds of every cell.
    pub fn seed_numbers(&self) -> Vec<u64> {
        (0..self.seeds).map(|k| self.seed + k).collect()
    }
}

/// The multi-seed run directory of `dataset`'s cell `cell` in the sweep `dir`.
pub fn cell_dir(dir: &Path, dataset: &SweepDataset, cell: GridCell) -> PathBuf {
    let name = match cell.lr {
        None => format!("beta{}", cell.beta),
        Some(lr) => format!("beta{}-lr{lr}", cell.beta),
    };
    dir.join(&dataset.name).join(name)
}

/// The run directory of seed `seed` in a cell (as `qipo train --seeds` names them).
pub fn seed_dir(cell: &Path, seed: u64) -> PathBuf {
    cell.join(format!("seed{seed}"))
}
