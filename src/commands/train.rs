//! `qipo train`: a full QIPO run on a D4RL or Minari dataset, or the resumption of one.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::data::Dataset;
use crate::envs::EnvSpec;
use crate::gpu::Gpu;
use crate::rl::config::{resolve, TrainConfig};
use crate::rl::evaluation::{env_of_dataset, run_eval_env};
use crate::rl::presets::preset_for_dataset;
use crate::rl::train::train;
use crate::run::RunDir;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The dataset (D4RL v2 or Minari HDF5).
    #[arg(long, value_name = "FILE")]
    pub dataset: PathBuf,
    /// Settings of a task (`qipo train --list-presets`); default: the one named like the
    /// dataset file, if any.
    #[arg(long, value_name = "TASK")]
    pub preset: Option<String>,
    /// A TOML file of settings, applied over the preset.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// One setting, applied last, e.g. `--set policy.beta=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The run directory; default runs/<dataset>-seed<S>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run in this directory from its last checkpoint (a finished run is left
    /// as it is). The run keeps the settings it was started with.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["preset", "config", "overrides", "out", "seed"])]
    pub resume: Option<PathBuf>,
    /// Stop (resumably) after this many optimisation steps in this invocation, at the next
    /// point the run can resume from exactly: for time-boxed jobs.
    #[arg(long, value_name = "STEPS")]
    pub stop_after: Option<u64>,
}

pub fn run(gpu: &Gpu, args: TrainArgs) -> Result<()> {
    let (run, config, dataset) = match &args.resume {
        Some(dir) => {
            let run = RunDir::open(dir)?;
            if run.read_state()?.finished {
                println!("{} is already finished: nothing to do", run.path().display());
                return Ok(());
            }
            let config = run.read_config()?;
            (run, config, Dataset::load(&args.dataset)?)
        }
        None => {
            let preset = args.preset.clone().or_else(|| preset_for_dataset(&args.dataset).map(str::to_string));
            let mut overrides = args.overrides.clone();
            if let Some(seed) = args.seed {
                overrides.push(format!("seed={seed}"));
            }
            let mut config = resolve(preset.as_deref(), args.config.as_deref(), &overrides)?;
            if config.run.eval_env.is_empty() {
                // Evaluate where the data came from, when its file name (or else the preset) says.
                let from_preset = || preset.as_deref().and_then(|p| p.parse::<EnvSpec>().ok());
                if let Some(spec) = env_of_dataset(&args.dataset).or_else(from_preset) {
                    config.run.eval_env = spec.to_string();
                }
            }
            // Checked before the run directory exists, so bad settings leave nothing behind.
            run_eval_env(&config, &args.dataset)?;
            let out = args.out.clone().unwrap_or_else(|| {
                let stem = args.dataset.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                PathBuf::from("runs").join(format!("{stem}-seed{}", config.seed))
            });
            if out.join("config.toml").exists() {
                // The same command again continues (or leaves alone) the run it started.
                let run = RunDir::open(&out)?;
                if run.read_config()? != config {
                    bail!(
                        "{} already holds a run with other settings: continue it with --resume {0}, or choose another --out",
                        out.display()
                    );
                }
                if run.read_state()?.finished {
                    println!("{} is already finished: nothing to do", run.path().display());
                    return Ok(());
                }
                let dataset = Dataset::load(&args.dataset)?;
                return finish(gpu, dataset, run, config, &args);
            }
            // The dataset is read before the run directory exists, so bad input leaves nothing behind.
            let dataset = Dataset::load(&args.dataset)?;
            let run = RunDir::create(&out)?;
            run.write_config(&config)?;
            (run, config, dataset)
        }
    };
    finish(gpu, dataset, run, config, &args)
}

/// Trains the run and reports how it ended.
fn finish(gpu: &Gpu, dataset: Dataset, run: RunDir, config: TrainConfig, args: &TrainArgs) -> Result<()> {
    eprintln!(
        "qipo train: {} on {} (preset '{}'), run directory {}",
        args.dataset.display(),
        gpu.describe(),
        config.preset,
        run.path().display()
    );
    let summary = train(gpu, dataset, &run, &config, args.stop_after)?;
    if summary.already_finished {
        println!("{} is already finished: nothing to do", run.path().display());
        return Ok(());
    }
    if summary.stopped {
        println!("stopped after the step budget; continue with --resume {}", run.path().display());
        return Ok(());
    }
    if let Some(report) = &summary.eval {
        eprint!("{}", crate::commands::eval::summary(report));
    }
    let q = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    println!(
        "done: mean Q of the dataset's actions {}, of the behaviour policy's {}, of the improved policy's {}; wrote {}",
        q(summary.q_dataset),
        q(summary.q_behaviour),
        q(summary.q_policy),
        run.path().display()
    );
    Ok(())
}
