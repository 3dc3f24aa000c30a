//! The results of a sweep, from whatever cells have finished: per dataset, β (and policy
//! learning rate, where the grid varies it), the final normalised score as mean ± standard
//! error over seeds, beside the dataset's own score, flow behaviour cloning (β = 0) where the
//! grid has it, and the paper's QIPO score.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::paper::qipo_score;
use super::{cell_dir, seed_dir, SweepPlan};
use crate::eval::EvalReport;
use crate::rl::evaluation::EVAL_FILE;
use crate::run::write_atomic;
use crate::stats::mean_stderr;

pub const RESULTS_JSON: &str = "results.json";
pub const RESULTS_MD: &str = "results.md";
pub const RESULTS_PNG: &str = "results.png";

/// `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    pub seeds: Vec<u64>,
    pub datasets: Vec<DatasetResults>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetResults {
    pub name: String,
    pub source: String,
    pub dataset_score: Option<f64>,
    pub paper_score: Option<f64>,
    pub cells: Vec<CellResults>,
}

/// One cell of a dataset: each seed's final score (`None` where that run has not finished).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResults {
    pub beta: f64,
    /// The policy learning rate, where the grid varies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    pub scores: Vec<Option<f64>>,
    /// Over the finished seeds; `None` when none has.
    pub score_mean: Option<f64>,
    pub score_stderr: Option<f64>,
    pub finished: usize,
}

impl CellResults {
    pub fn complete(&self) -> bool {
        self.finished == self.scores.len()
    }
}

impl SweepResults {
    /// Reads every cell's final evaluations (each seed's `eval.json`) in the sweep `dir`.
    pub fn collect(dir: &Path, plan: &SweepPlan) -> Result<Self> {
        let seeds = plan.seed_numbers();
        let datasets = plan
            .datasets
            .iter()
            .map(|dataset| {
                let cells = dataset
                    .cells()
                    .into_iter()
                    .map(|grid_cell| {
                        let cell = cell_dir(dir, dataset, grid_cell);
                        let scores =
                            seeds.iter().map(|&s| final_score(&seed_dir(&cell, s))).collect::<Result<Vec<_>>>()?;
                        let done: Vec<f64> = scores.iter().flatten().copied().collect();
                        let (mean, stderr) = mean_stderr(&done);
                        let any = !done.is_empty();
                        Ok(CellResults {
                            beta: grid_cell.beta,
                            lr: grid_cell.lr,
                            finished: done.len(),
                            score_mean: any.then_some(mean),
                            score_stderr: any.then_some(stderr),
                            scores,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(DatasetResults {
                    name: dataset.name.clone(),
                    source: dataset.source.display().to_string(),
                    dataset_score: dataset.dataset_score,
                    paper_score: dataset.task.as_deref().and_then(qipo_score),
                    cells,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { seeds, datasets })
    }

    /// Writes `results.json`, `results.md` and `results.png` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join(RESULTS_JSON), &serde_json::to_vec_pretty(self)?)?;
        write_atomic(&dir.join(RESULTS_MD), self.markdown().as_bytes())?;
        super::plot::plot_results(self, &dir.join(RESULTS_PNG))
    }

    /// The table: a row per dataset (and learning rate, where a grid varies it), a column per
    /// β.
    pub fn markdown(&self) -> String {
        let mut betas: Vec<f64> = self.datasets.iter().flat_map(|d| d.cells.iter().map(|c| c.beta)).collect();
        betas.sort_by(f64::total_cmp);
        betas.dedup();
        let n = self.seeds.len();
        let mut md = String::from("# Sweep results\n\n");
        let _ = writeln!(
            md,
            "Final normalised score (D4RL's, or the dataset's own references), mean ± standard error over {n} seed{} ({}). \
             β = 0 is flow behaviour cloning. A cell missing seeds shows how many have finished; `–`: none yet.\n",
            if n == 1 { "" } else { "s" },
            self.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        );
        let with_lr = self.datasets.iter().any(|d| d.cells.iter().any(|c| c.lr.is_some()));
        let beta_columns: Vec<String> = betas.iter().map(|b| format!("β = {b}")).collect();
        let lr_column = if with_lr { " policy.lr |" } else { "" };
        let _ = writeln!(md, "| dataset |{lr_column} dataset's score | paper's QIPO | {} |", beta_columns.join(" | "));
        let _ = writeln!(md, "|---|{}---|---|{}", if with_lr { "---|" } else { "" }, "---|".repeat(betas.len()));
        let optional = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
        for dataset in &self.datasets {
            for lr in dataset.learning_rates() {
                let cells: Vec<String> = betas
                    .iter()
                    .map(|&beta| match dataset.cells.iter().find(|c| c.beta == beta && c.lr == lr) {
                        None => String::new(),
                        Some(cell) => cell_text(cell),
                    })
                    .collect();
                let lr = match (with_lr, lr) {
                    (true, Some(lr)) => format!(" {lr} |"),
                    (true, None) => " |".to_string(),
                    (false, _) => String::new(),
                };
                let _ = writeln!(
                    md,
                    "| {} |{lr} {} | {} | {} |",
                    dataset.name,
                    optional(dataset.dataset_score),
                    optional(dataset.paper_score),
                    cells.join(" | ")
                );
            }
        }
        md
    }
}

impl DatasetResults {
    /// The learning rates of its cells, each once, in order (`None`: the grid does not vary
    /// it).
    pub fn learning_rates(&self) -> Vec<Option<f64>> {
        let mut lrs: Vec<Option<f64>> = Vec::new();
        for cell in &self.cells {
            if !lrs.contains(&cell.lr) {
                lrs.push(cell.lr);
            }
        }
        lrs
    }
}

/// A cell's score, marked when seeds are missing.
fn cell_text(cell: &CellResults) -> String {
    match (cell.score_mean, cell.score_stderr) {
        // One seed has no spread to show.
        (Some(mean), _) if cell.complete() && cell.scores.len() == 1 => format!("{mean:.1}"),
        (Some(mean), Some(stderr)) if cell.complete() => format!("{mean:.1} ± {stderr:.1}"),
        (Some(mean), Some(stderr)) => {
            format!("{mean:.1} ± {stderr:.1} ({}/{} seeds)", cell.finished, cell.scores.len())
        }
        _ => "–".to_string(),
    }
}

/// The final score of the run in `run`, if its final evaluation has been written.
fn final_score(run: &Path) -> Result<Option<f64>> {
    let file = run.join(EVAL_FILE);
    if !file.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let report: EvalReport =
        serde_json::from_str(&text).with_context(|| format!("{}: not a final evaluation", file.display()))?;
    Ok(Some(report.score_mean))
}
