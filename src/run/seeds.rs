//! The directory of a multi-seed run: one ordinary run directory per seed (`seed<k>/`),
//! `seeds.json`, which lists them and, once they are done, sums up their evaluations, and
//! `seeds.png`, every seed's learning curves overlaid.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::plot::plot_seed_curves;
use super::{write_atomic, RunDir};
use crate::eval::EvalReport;
use crate::rl::config::TrainConfig;
use crate::stats::mean_stderr;

/// The file that marks a multi-seed run directory.
pub const SEEDS_FILE: &str = "seeds.json";
/// The seeds' learning curves, overlaid.
pub const SEEDS_PLOT: &str = "seeds.png";

/// The contents of `seeds.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedsIndex {
    /// The seeds, consecutive, and the folder of each (relative to the multi-seed directory).
    pub seeds: Vec<u64>,
    pub runs: Vec<String>,
    /// Across the seeds, once every one of them has been evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<SeedsEvaluation>,
}

/// The final evaluations of the seeds: each seed's mean score and return, and their mean and
/// standard error across seeds (the spread a paper's "± over seeds" reports).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedsEvaluation {
    pub env: String,
    pub episodes_per_seed: usize,
    pub score_mean: f64,
    pub score_stderr: f64,
    pub return_mean: f64,
    pub return_stderr: f64,
    pub scores: Vec<f64>,
    pub returns: Vec<f64>,
}

impl SeedsEvaluation {
    pub fn of(reports: &[EvalReport]) -> Option<Self> {
        let first = reports.first()?;
        let scores: Vec<f64> = reports.iter().map(|r| r.score_mean).collect();
        let returns: Vec<f64> = reports.iter().map(|r| r.return_mean).collect();
        let (score_mean, score_stderr) = mean_stderr(&scores);
        let (return_mean, return_stderr) = mean_stderr(&returns);
        Some(Self {
            env: first.env.clone(),
            episodes_per_seed: first.episodes,
            score_mean,
            score_stderr,
            return_mean,
            return_stderr,
            scores,
            returns,
        })
    }
}

/// A multi-seed run directory and its seeds' run directories.
pub struct SeedsDir {
    path: PathBuf,
    pub index: SeedsIndex,
    pub runs: Vec<RunDir>,
}

impl SeedsDir {
    /// Whether `path` holds a multi-seed run.
    pub fn is_at(path: &Path) -> bool {
        path.join(SEEDS_FILE).is_file()
    }

    /// Creates the directory with a run directory per seed, seed c's with `configs[c]`. Like
    /// [`RunDir::create`], it never overwrites a run. `seeds.json` is written last, once
    /// every seed's settings are: a start killed before it is continued by the same command
    /// (see [`RunDir::create_for`]).
    pub fn create(path: &Path, configs: &[TrainConfig]) -> Result<Self> {
        ensure!(
            !Self::is_at(path),
            "{} already holds a multi-seed run; resume it or choose another directory",
            path.display()
        );
        let seeds: Vec<u64> = configs.iter().map(|c| c.seed).collect();
        let names: Vec<String> = seeds.iter().map(|s| format!("seed{s}")).collect();
        let runs = names
            .iter()
            .zip(configs)
            .map(|(name, config)| RunDir::create_for(path.join(name), config))
            .collect::<Result<Vec<_>>>()?;
        let dir = Self { path: path.to_path_buf(), index: SeedsIndex { seeds, runs: names, evaluation: None }, runs };
        dir.write_index()?;
        Ok(dir)
    }

    /// Opens a multi-seed run directory written by [`Self::create`].
    pub fn open(path: &Path) -> Result<Self> {
        let file = path.join(SEEDS_FILE);
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let index: SeedsIndex =
            serde_json::from_str(&text).with_context(|| format!("{}: not a valid list of seeds", file.display()))?;
        ensure!(
            !index.runs.is_empty() && index.runs.len() == index.seeds.len(),
            "{}: {} seeds but {} run folders",
            file.display(),
            index.seeds.len(),
            index.runs.len()
        );
        let runs = index.runs.iter().map(|name| RunDir::open(path.join(name))).collect::<Result<Vec<_>>>()?;
        Ok(Self { path: path.to_path_buf(), index, runs })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_index(&self) -> Result<()> {
        write_atomic(&self.path.join(SEEDS_FILE), &serde_json::to_vec_pretty(&self.index)?)
    }

    /// Draws every seed's learning curves into `seeds.png`.
    pub fn plot(&self) -> Result<()> {
        let runs: Vec<(String, PathBuf)> =
            self.index.runs.iter().zip(&self.runs).map(|(name, run)| (name.clone(), run.metrics_path())).collect();
        plot_seed_curves(&runs, &self.path.join(SEEDS_PLOT))
    }

    /// Records the seeds' final evaluations in `seeds.json`.
    pub fn write_evaluation(&mut self, evaluation: SeedsEvaluation) -> Result<()> {
        self.index.evaluation = Some(evaluation);
        self.write_index()
    }
}
