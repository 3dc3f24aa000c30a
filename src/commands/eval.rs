//! `qipo eval`: episodes in MuJoCo (or AntMaze) with a trained policy or a baseline, reported
//! as the mean return and D4RL-normalised score with their standard errors.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::data::Dataset;
use crate::envs::{self, EnvSpec};
use crate::eval::{evaluate, EvalReport, RandomPolicy, Scoring, ZeroPolicy};
use crate::gpu::{AdapterChoice, Gpu};
use crate::report::{Report, Silent};
use crate::rl::evaluation::{env_of, eval_task, Evaluator};
use crate::rl::saved_policy::SavedPolicy;

use super::Terminal;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Baseline {
    /// The zero action at every step.
    Zero,
    /// Actions drawn uniformly within the action bounds.
    Random,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("actor").required(true).args(["checkpoint", "policy"])))]
pub struct EvalArgs {
    /// A run directory (its final policy; the behaviour policy if improvement has not run)
    /// or a policy checkpoint file.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// A baseline policy instead of a checkpoint.
    #[arg(long, value_enum)]
    pub policy: Option<Baseline>,
    /// hopper, halfcheetah, walker2d (gymnasium v5; append -v4 for v4), or
    /// antmaze-umaze|medium|large, or an OGBench single-task name
    /// (antmaze-large-navigate-singletask-task1-v0); a D4RL dataset name works too (its
    /// `-v2` means v4).
    /// Default: the run's, or the one the --dataset's metadata names.
    #[arg(long, value_name = "NAME")]
    pub env: Option<EnvSpec>,
    /// Score with this dataset's references (a Minari dataset's own, or D4RL's) and, without
    /// --env, evaluate in the environment it names: a file, a Minari dataset id or an OGBench
    /// single-task name.
    #[arg(long, value_name = "NAME|FILE")]
    pub dataset: Option<PathBuf>,
    /// Episodes, all stepped together.
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Seeds the episodes' initial states and the policy's noise: the same seed gives the same numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Euler steps of the policy's sampler (default: the run's).
    #[arg(long)]
    pub euler_steps: Option<usize>,
    /// One JSON object (with every episode's return) instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(adapter: &AdapterChoice, args: EvalArgs) -> Result<()> {
    let report = evaluation(adapter, &args, args.json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    Ok(())
}

/// The evaluation `args` ask for, with a progress bar on stderr unless `quiet`.
pub fn evaluation(adapter: &AdapterChoice, args: &EvalArgs, quiet: bool) -> Result<EvalReport> {
    if args.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let progress: &dyn Report = if quiet { &Silent } else { &Terminal };
    let dataset = args.dataset.as_deref().map(DatasetChoice::read).transpose()?;
    let dataset_env = dataset.as_ref().and_then(|d| d.env);
    let report = match (&args.checkpoint, args.policy) {
        (Some(path), _) => {
            let saved = SavedPolicy::open(path)?;
            let run_env = saved.config.as_ref().and_then(|c| c.run.eval_env.spec());
            let Some(spec) = args.env.or(dataset_env).or(run_env) else {
                bail!("{}: which environment? pass --env", path.display())
            };
            let run_scoring = saved.config.as_ref().map(|c| c.run.scoring()).unwrap_or(Scoring::D4rl);
            let scoring = dataset.as_ref().map_or(run_scoring, |d| d.scoring);
            let gpu = Gpu::new(adapter)?;
            let net = saved.network(&gpu)?;
            let euler = args.euler_steps.or(saved.euler_steps()).unwrap_or(10);
            let normalization = saved.normalization.and_then(|n| n.observations);
            let name = format!("{} ({})", path.display(), saved.prefix);
            Evaluator::new(spec, scoring, args.episodes, euler, normalization, args.seed)?
                .run(&gpu, &net, &name, progress)?
        }
        (None, Some(baseline)) => {
            let spec = args.env.or(dataset_env).context("--policy needs --env (or a --dataset that names one)")?;
            let scoring = dataset.as_ref().map_or(Scoring::D4rl, |d| d.scoring);
            let mut env = envs::make(spec, args.episodes)?;
            let bar = progress.progress(eval_task(spec, env.max_steps()));
            let report = match baseline {
                Baseline::Zero => {
                    let mut policy = ZeroPolicy { act_dim: env.act_dim() };
                    evaluate(env.as_mut(), &mut policy, scoring, args.seed, bar.as_ref())
                }
                Baseline::Random => {
                    let mut policy = RandomPolicy::new(env.action_bounds(), args.seed);
                    evaluate(env.as_mut(), &mut policy, scoring, args.seed, bar.as_ref())
                }
            }?;
            bar.finish();
            report
        }
        (None, None) => bail!("which policy? pass --checkpoint or --policy"),
    };
    Ok(report)
}

/// What `--dataset` gives an evaluation: the environment its metadata (or name) names, and
/// its references.
struct DatasetChoice {
    env: Option<EnvSpec>,
    scoring: Scoring,
}

impl DatasetChoice {
    fn read(name: &std::path::Path) -> Result<Self> {
        let dataset = Dataset::open(name)?;
        for warning in &dataset.warnings {
            eprintln!("warning: {}: {warning}", dataset.source.display());
        }
        Ok(Self { env: env_of(&dataset), scoring: Scoring::of(&dataset.references) })
    }
}

/// A few lines for people.
pub fn summary(report: &EvalReport) -> String {
    let mut text = format!(
        "{} with {}: {} episodes, seed {}\n  return {:.1} ± {:.1}   {} {:.1} ± {:.1}   length {:.0}\n",
        report.env,
        report.policy,
        report.episodes,
        report.seed,
        report.return_mean,
        report.return_stderr,
        report.score_name,
        report.score_mean,
        report.score_stderr,
        report.length_mean
    );
    if !report.score_reference.is_empty() && report.score_name != "D4RL score" {
        text.push_str(&format!("  scores: {}\n", report.score_reference));
    }
    if let Some(rate) = report.success_rate {
        text.push_str(&format!("  success rate {:.0}%\n", 100.0 * rate));
    }
    if let Some(spread) = score_spread(&report.scores) {
        text.push_str(&format!("  episode scores {spread}\n"));
    }
    text.push_str(&format!("  {:.1} s, {:.0} environment steps/s\n", report.seconds, report.env_steps_per_s));
    text
}

/// The spread of episode scores, `min 1.2  quartiles 15.8 / 16.6 / 17.1  max 39.9`: a mean
/// hides a policy that helps some episodes and wrecks others. None without episodes.
pub fn score_spread(scores: &[f64]) -> Option<String> {
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let (first, last) = (*sorted.first()?, *sorted.last()?);
    // Linear interpolation between the closest ranks, as numpy's default percentile.
    let quantile = |q: f64| {
        let rank = q * (sorted.len() - 1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
    };
    Some(format!(
        "min {first:.1}  quartiles {:.1} / {:.1} / {:.1}  max {last:.1}",
        quantile(0.25),
        quantile(0.5),
        quantile(0.75)
    ))
}

#[cfg(test)]
mod tests {
    use super::score_spread;

    #[test]
    fn spread_gives_extremes_and_quartiles() {
        assert_eq!(score_spread(&[]), None);
        assert_eq!(score_spread(&[3.0]).unwrap(), "min 3.0  quartiles 3.0 / 3.0 / 3.0  max 3.0");
        let spread = score_spread(&[5.0, 1.0, 2.0, 4.0, 3.0]).unwrap();
        assert_eq!(spread, "min 1.0  quartiles 2.0 / 3.0 / 4.0  max 5.0");
        assert_eq!(score_spread(&[0.0, 10.0]).unwrap(), "min 0.0  quartiles 2.5 / 5.0 / 7.5  max 10.0");
    }
}
