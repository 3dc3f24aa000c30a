//! `qipo compare A B`: did run A score higher than run B, by more than the noise?
//!
//! Both runs' final evaluations start the same episodes when they share their seeds (an
//! evaluation's episodes are a function of the run's seed alone, see
//! [`crate::eval::episode_seed`]), so episode i of A and episode i of B begin in the same
//! state. The comparison pairs them: the difference of the two scores, episode by episode,
//! cancels the part of the spread that comes from where an episode starts. It reports the
//! mean paired difference with its standard error over all paired episodes (the episodes of
//! every seed pooled), and, with two or more seeds, the standard error across the seeds' mean
//! differences, the coarser and more cautious of the two.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use serde::Serialize;

use crate::eval::EvalReport;
use crate::rl::evaluation::EVAL_FILE;
use crate::run::seeds::{SeedsIndex, SEEDS_FILE};
use crate::stats::{mean, mean_stderr};

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// A run directory, a multi-seed run directory (`--seeds`) or an eval.json file.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The run to compare A with, evaluated with the same seeds (e.g. the same command with
    /// `--set policy.beta=0`).
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One seed's paired episodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedComparison {
    /// The evaluation seed both runs used.
    pub eval_seed: u64,
    pub episodes: usize,
    pub score_a: f64,
    pub score_b: f64,
    /// Mean of the paired differences A - B, and its standard error over this seed's episodes.
    pub difference: f64,
    pub difference_stderr: f64,
}

/// The comparison of two runs' final evaluations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub env: String,
    pub seeds: Vec<SeedComparison>,
    /// Every seed's paired episodes pooled.
    pub episodes: usize,
    pub score_a: f64,
    pub score_b: f64,
    pub difference: f64,
    pub difference_stderr: f64,
    /// `difference / difference_stderr`: how many standard errors A is above B.
    pub z: f64,
    /// Standard error of the mean difference across seeds (`None` with one seed).
    pub difference_stderr_over_seeds: Option<f64>,
    /// Fraction of paired episodes in which A scored higher than B.
    pub a_wins: f64,
}

/// The final evaluations of a run, a multi-seed run, or one eval.json file.
pub fn load_evaluations(path: &Path) -> Result<Vec<EvalReport>> {
    if path.is_file() {
        return Ok(vec![read_report(path)?]);
    }
    ensure!(path.is_dir(), "{} does not exist", path.display());
    let index_file = path.join(SEEDS_FILE);
    if !index_file.is_file() {
        return Ok(vec![read_report(&path.join(EVAL_FILE))?]);
    }
    let text = std::fs::read_to_string(&index_file).with_context(|| format!("cannot read {}", index_file.display()))?;
    let index: SeedsIndex =
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid list of seeds", index_file.display()))?;
    index.runs.iter().map(|run| read_report(&path.join(run).join(EVAL_FILE))).collect()
}

fn read_report(file: &Path) -> Result<EvalReport> {
    if !file.is_file() {
        bail!("{} does not exist: the run has no final evaluation yet", file.display());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report: EvalReport =
        serde_json::from_str(&text).with_context(|| format!("{}: not an evaluation report", file.display()))?;
    ensure!(
        report.scores.len() == report.episodes && report.episodes > 0,
        "{}: {} episodes but {} scores",
        file.display(),
        report.episodes,
        report.scores.len()
    );
    Ok(report)
}

/// Pairs the evaluations of A and B by their evaluation seed, and their episodes by index.
/// Every seed of A must have been evaluated in B too, in the same environment; when the
/// episode counts differ, the first episodes of the larger one are paired (an episode's start
/// depends on its seed and index alone).
pub fn compare(a: &[EvalReport], b: &[EvalReport]) -> Result<Comparison> {
    ensure!(!a.is_empty(), "run A has no evaluation");
    let mut seeds = Vec::new();
    let mut pooled = Vec::new();
    for report_a in a {
        let Some(report_b) = b.iter().find(|r| r.seed == report_a.seed) else {
            bail!(
                "run B has no evaluation with run A's evaluation seed {}: train B with the same --seed/--seeds",
                report_a.seed
            );
        };
        ensure!(report_a.env == report_b.env, "run A was evaluated in {} but run B in {}", report_a.env, report_b.env);
        let n = report_a.scores.len().min(report_b.scores.len());
        let (scores_a, scores_b) = (&report_a.scores[..n], &report_b.scores[..n]);
        let differences: Vec<f64> = scores_a.iter().zip(scores_b).map(|(x, y)| x - y).collect();
        let (difference, difference_stderr) = mean_stderr(&differences);
        seeds.push(SeedComparison {
            eval_seed: report_a.seed,
            episodes: n,
            score_a: mean(scores_a),
            score_b: mean(scores_b),
            difference,
            difference_stderr,
        });
        pooled.extend(scores_a.iter().zip(scores_b).map(|(x, y)| (*x, *y)));
    }
    let differences: Vec<f64> = pooled.iter().map(|(x, y)| x - y).collect();
    let (difference, difference_stderr) = mean_stderr(&differences);
    let seed_differences: Vec<f64> = seeds.iter().map(|s| s.difference).collect();
    Ok(Comparison {
        env: a[0].env.clone(),
        episodes: pooled.len(),
        score_a: pooled.iter().map(|p| p.0).sum::<f64>() / pooled.len() as f64,
        score_b: pooled.iter().map(|p| p.1).sum::<f64>() / pooled.len() as f64,
        difference,
        difference_stderr,
        z: if difference_stderr > 0.0 { difference / difference_stderr } else { f64::NAN },
        difference_stderr_over_seeds: (seeds.len() >= 2).then(|| mean_stderr(&seed_differences).1),
        a_wins: differences.iter().filter(|d| **d > 0.0).count() as f64 / differences.len() as f64,
        seeds,
    })
}

/// The comparison as a table: a row per seed, then the pooled verdict.
pub fn format_comparison(c: &Comparison, a: &Path, b: &Path) -> String {
    let mut out =
        format!("A = {}\nB = {}\n{}, D4RL-normalised scores of paired episodes\n\n", a.display(), b.display(), c.env);
    out += "| eval seed | episodes | A | B | A - B |\n|---|---|---|---|---|\n";
    for s in &c.seeds {
        out += &format!(
            "| {} | {} | {:.1} | {:.1} | {:+.1} ± {:.1} |\n",
            s.eval_seed, s.episodes, s.score_a, s.score_b, s.difference, s.difference_stderr
        );
    }
    out += &format!(
        "| all | {} | {:.1} | {:.1} | {:+.1} ± {:.1} |\n\n",
        c.episodes, c.score_a, c.score_b, c.difference, c.difference_stderr
    );
    out += &format!(
        "A - B = {:+.2} ± {:.2} (standard error over {} paired episodes): {:.1} standard errors; A higher in {:.0}% of episodes",
        c.difference,
        c.difference_stderr,
        c.episodes,
        c.z,
        100.0 * c.a_wins
    );
    if let Some(se) = c.difference_stderr_over_seeds {
        out += &format!("\nacross the {} seeds' mean differences: {:+.2} ± {:.2}", c.seeds.len(), c.difference, se);
    }
    out
}

pub fn run(args: CompareArgs) -> Result<()> {
    let a = load_evaluations(&args.a)?;
    let b = load_evaluations(&args.b)?;
    let comparison = compare(&a, &b)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        println!("{}", format_comparison(&comparison, &args.a, &args.b));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seed: u64, scores: &[f64]) -> EvalReport {
        EvalReport {
            env: "halfcheetah-v5".into(),
            seed,
            episodes: scores.len(),
            scores: scores.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn pairs_episodes_by_seed_and_index() {
        // B lists its seeds in the other order: pairing is by seed, not by position.
        let a = [report(7, &[3.0, 5.0, 4.0]), report(9, &[10.0, 12.0])];
        let b = [report(9, &[9.0, 9.0, 30.0]), report(7, &[1.0, 4.0, 1.0])];
        let c = compare(&a, &b).unwrap();
        // Seed 7: differences 2, 1, 3; seed 9 (two episodes paired): 1, 3.
        assert_eq!(c.seeds[0].difference, 2.0);
        assert!((c.seeds[0].difference_stderr - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!((c.seeds[1].episodes, c.seeds[1].difference), (2, 2.0));
        assert_eq!(c.episodes, 5);
        assert_eq!(c.difference, 2.0);
        // Pooled differences 2, 1, 3, 1, 3: sample variance 1, standard error 1/sqrt(5).
        assert!((c.difference_stderr - 0.2f64.sqrt()).abs() < 1e-12);
        assert!((c.z - 2.0 / 0.2f64.sqrt()).abs() < 1e-9);
        assert_eq!(c.difference_stderr_over_seeds, Some(0.0));
        assert_eq!(c.a_wins, 1.0);
        assert_eq!((c.score_a, c.score_b), (34.0 / 5.0, 24.0 / 5.0));
    }

    #[test]
    fn refuses_runs_that_do_not_share_their_seeds_or_env() {
        let err = compare(&[report(1, &[1.0])], &[report(2, &[1.0])]).unwrap_err();
        assert!(err.to_string().contains("evaluation seed 1"), "{err}");
        let mut other = report(1, &[1.0]);
        other.env = "hopper-v5".into();
        let err = compare(&[report(1, &[1.0])], &[other]).unwrap_err();
        assert!(err.to_string().contains("hopper-v5"), "{err}");
    }
}
