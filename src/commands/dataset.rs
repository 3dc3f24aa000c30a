//! `qipo dataset ...`: looking at dataset files from the command line.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::data::{Dataset, Env, Summary};

#[derive(clap::Subcommand)]
pub enum DatasetCommand {
    /// Check a D4RL or Minari HDF5 file and print its statistics.
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The HDF5 file (D4RL v2 layout, or Minari's main_data.hdf5).
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
    let mut dataset = Dataset::load(file)?;
    if env.is_some() {
        dataset.env = env;
    }
    Ok(Summary::of(&dataset))
}

fn table(summary: &Summary) -> String {
    let env = summary.env.map_or("unknown (use --env)".to_string(), |env| env.to_string());
    let score = summary.normalized_score.map_or("-".to_string(), |score| format!("{score:.1}"));
    let rows = [
        ("file", summary.file.clone()),
        ("format", summary.format.name().to_string()),
        ("environment", env),
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
        ("normalised score", score),
        ("warnings", summary.warnings.len().to_string()),
    ];
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter().map(|(label, value)| format!("{label:<width$}  {value}\n")).collect()
}
