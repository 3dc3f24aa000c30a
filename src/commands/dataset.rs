//! `qipo dataset ...`: looking at dataset files from the command line.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::data::{Dataset, Env, Format, References, Summary};

#[derive(clap::Subcommand)]
pub enum DatasetCommand {
    /// Check a D4RL, Minari or OGBench dataset and print its statistics and reference scores.
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The HDF5 file (D4RL v2 layout, or Minari's main_data.hdf5), a Minari dataset id
    /// (`mujoco/hopper/medium-v0`) in the local cache, or an OGBench single-task name
    /// (`[DIR/]antmaze-large-navigate-singletask-v0`).
    #[arg(value_name = "FILE|NAME")]
    pub file: PathBuf,
    /// The environment (halfcheetah, hopper, walker2d, antmaze), when the file name and
    /// attributes do not say it or say it wrongly.
    #[arg(long)]
    pub env: Option<Env>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: DatasetCommand) -> Result<()> {
    match command {
        DatasetCommand::Inspect(args) => inspect(&args),
    }
}

fn inspect(args: &InspectArgs) -> Result<()> {
    let summary = summary(&args.file, args.env)?;
    for warning in &summary.warnings {
        eprintln!("warning: {}: {warning}", summary.file);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", table(&summary));
    }
    Ok(())
}

/// The statistics and warnings of the dataset `file`, whose environment is `env` when given.
pub fn summary(file: &Path, env: Option<Env>) -> Result<Summary> {
    let mut dataset = Dataset::open(file)?;
    if env.is_some() {
        dataset.env = env;
    }
    Ok(Summary::of(&dataset))
}

fn table(summary: &Summary) -> String {
    // OGBench's environments have no D4RL family: their task names them.
    let env = match (summary.env, summary.format) {
        (Some(env), _) => env.to_string(),
        (None, Format::OgBench) => summary.eval_env.clone().unwrap_or_default(),
        (None, _) => "unknown (use --env)".to_string(),
    };
    let score = summary.normalized_score.map_or("- (no references)".to_string(), |score| format!("{score:.1}"));
    let references = match (summary.reference_min, summary.reference_max) {
        (Some(min), Some(max)) => format!("{min} to {max}, from {}", summary.references),
        _ if summary.references == References::D4rl => "none: D4RL's need the environment (use --env)".to_string(),
        _ => summary.references.to_string(),
    };
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_string());
    let rows = [
        ("file", summary.file.clone()),
        ("source", summary.format.benchmark().to_string()),
        ("id", dash(&summary.id)),
        ("environment", env),
        ("evaluation environment", dash(&summary.eval_env)),
        ("observation dim", summary.obs_dim.to_string()),
        ("action dim", summary.act_dim.to_string()),
        ("transitions", summary.transitions.to_string()),
        ("steps in file", summary.steps.to_string()),
        ("terminal transitions", summary.terminals.to_string()),
        (
            "episodes",
            format!(
                "{} ({} terminal, {} timeout, {} unfinished)",
                summary.episodes, summary.terminal_episodes, summary.timeout_episodes, summary.unfinished_episodes
            ),
        ),
        (
            "episode return",
            format!(
                "mean {:.1}, std {:.1}, min {:.1}, max {:.1}",
                summary.return_mean, summary.return_std, summary.return_min, summary.return_max
            ),
        ),
        ("reference returns", references),
        ("normalised score", score),
        ("warnings", summary.warnings.len().to_string()),
    ];
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter().map(|(label, value)| format!("{label:<width$}  {value}\n")).collect()
}
