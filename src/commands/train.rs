//! `qipo train`: a full QIPO run on a D4RL, Minari or OGBench dataset, or the resumption of one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::commands::Terminal;
use crate::data::Dataset;
use crate::envs::EnvSpec;
use crate::eval::EvalReport;
use crate::eval::{ScoreMode, Scoring};
use crate::gpu::Gpu;
use crate::report::Report;
use crate::rl::config::{EvalEnv, TrainConfig};
use crate::rl::evaluation::{env_of, run_eval_env};
use crate::rl::presets::{preset_for_dataset, preset_names, resolve};
use crate::rl::train::{check_inputs, train_seeds, SeedRun, TrainSummary};
use crate::run::seeds::{SeedsDir, SeedsEvaluation, SEEDS_FILE};
use crate::run::{remove_temporaries_in, RunDir};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The dataset: a D4RL v2 or Minari HDF5 file, a Minari dataset id
    /// (`mujoco/hopper/medium-v0`) in the local cache ($MINARI_DATASETS_PATH, else
    /// ~/.minari/datasets), or an OGBench single-task name
    /// (`[DIR/]antmaze-large-navigate-singletask-task1-v0`, DIR default ~/.ogbench/data).
    #[arg(long, value_name = "FILE|NAME")]
    pub dataset: PathBuf,
    // The help lists the presets themselves: there is no separate flag to list them.
    #[arg(long, value_name = "TASK", help = preset_help())]
    pub preset: Option<String>,
    /// A TOML file of settings, applied over the preset.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// One setting, applied last, e.g. `--set policy.beta=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The run directory; default runs/<dataset>-seed<S> (with --seeds: -seeds<S>-<S+N-1>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train N seeds (the seed, seed + 1, ...) together, every step of all of them in the
    /// same GPU dispatches. Each gets a run directory of its own under --out, exactly the run
    /// that seed alone would make, and seeds.json sums up their evaluations.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_SEEDS))]
    pub seeds: u64,
    /// Continue the run in this directory from its last checkpoint (a finished run is left
    /// as it is). The run keeps the settings it was started with.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["preset", "config", "overrides", "out", "seed", "seeds"])]
    pub resume: Option<PathBuf>,
    /// Stop (resumably) after this many optimisation steps in this invocation, at the next
    /// point the run can resume from exactly: for time-boxed jobs.
    /// At least 1: a budget of no steps would do nothing.
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stop_after: Option<u64>,
}

/// The help of `--preset`, naming every preset.
fn preset_help() -> String {
    format!("Settings of a task: {}; default: the one named like the dataset file, if any", preset_names().join(", "))
}

/// The most seeds one invocation trains together.
const MAX_SEEDS: u64 = 256;

/// Where a run lives: one run directory, or a directory of seeds.
enum Runs {
    Single(RunDir),
    Seeds(SeedsDir),
}

impl Runs {
    /// Opens the run in `dir`, of either kind, and takes the lock of each run directory:
    /// a second process is refused rather than joining the run.
    fn open(dir: &Path) -> Result<Self> {
        let mut runs =
            if SeedsDir::is_at(dir) { Self::Seeds(SeedsDir::open(dir)?) } else { Self::Single(RunDir::open(dir)?) };
        let dirs = match &mut runs {
            Self::Single(run) => std::slice::from_mut(run),
            Self::Seeds(seeds) => &mut seeds.runs,
        };
        for run in dirs {
            run.lock()?;
        }
        if let Self::Seeds(seeds) = &runs {
            // seeds.json is written only by the process that holds its seeds' locks.
            remove_temporaries_in(seeds.path())?;
        }
        Ok(runs)
    }

    fn dirs(&self) -> &[RunDir] {
        match self {
            Self::Single(run) => std::slice::from_ref(run),
            Self::Seeds(seeds) => &seeds.runs,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Single(run) => run.path(),
            Self::Seeds(seeds) => seeds.path(),
        }
    }

    fn finished(&self) -> Result<bool> {
        for run in self.dirs() {
            if !run.read_state()?.finished {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn configs(&self) -> Result<Vec<TrainConfig>> {
        self.dirs().iter().map(RunDir::read_config).collect()
    }
}

/// How an invocation of `qipo train` ended.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run directory (with several seeds: the directory of their runs).
    pub path: PathBuf,
    /// Each seed's run directory and summary.
    pub seeds: Vec<SeedOutcome>,
    /// The run was finished before this invocation, which did nothing.
    pub already_finished: bool,
    /// The step budget (or a stop asked for through the report) stopped it resumably.
    pub stopped: bool,
    /// With several seeds, their final evaluations summed up (as seeds.json).
    pub evaluation: Option<SeedsEvaluation>,
}

/// One seed's run as an invocation left it.
#[derive(Debug)]
pub struct SeedOutcome {
    pub seed: u64,
    pub path: PathBuf,
    pub summary: TrainSummary,
}

impl TrainOutcome {
    /// The outcome of an invocation that found `runs` finished, or stopped before training.
    fn untouched(runs: &Runs, configs: &[TrainConfig], already_finished: bool) -> Self {
        let seeds = runs
            .dirs()
            .iter()
            .zip(configs)
            .map(|(run, config)| SeedOutcome {
                seed: config.seed,
                path: run.path().to_path_buf(),
                summary: TrainSummary { already_finished, ..Default::default() },
            })
            .collect();
        Self { path: runs.path().to_path_buf(), seeds, already_finished, stopped: false, evaluation: None }
    }
}

/// `qipo train` on the terminal.
pub fn run(gpu: &Gpu, args: TrainArgs) -> Result<()> {
    train(gpu, &args, &Terminal).map(|_| ())
}

/// Trains, continues or resumes the run `args` names, as `qipo train` does, telling `report`
/// what happens (the command line's output through [`Report::output`]).
pub fn train(gpu: &Gpu, args: &TrainArgs, report: &dyn Report) -> Result<TrainOutcome> {
    // The command line's parser checks these too; embedders build `TrainArgs` themselves.
    if !(1..=MAX_SEEDS).contains(&args.seeds) {
        bail!("seeds must be from 1 to {MAX_SEEDS}, not {}", args.seeds);
    }
    if args.stop_after == Some(0) {
        bail!("stop_after must be at least 1: a budget of no steps would do nothing");
    }
    let (runs, configs, dataset) = match &args.resume {
        Some(dir) => {
            let runs = Runs::open(dir)?;
            let configs = runs.configs()?;
            if runs.finished()? {
                report.output(&format!("{} is already finished: nothing to do\n", runs.path().display()));
                return Ok(TrainOutcome::untouched(&runs, &configs, true));
            }
            let dataset = load_checked(gpu, &args.dataset, &configs)?;
            (runs, configs, dataset)
        }
        None => {
            let (mut config, preset) =
                settings(&args.dataset, args.preset.as_deref(), args.config.as_deref(), &args.overrides, args.seed)?;
            // The dataset is read, and the networks' sizes checked against it, before the run
            // directory exists, so bad input leaves nothing behind.
            let dataset = Dataset::open(&args.dataset)?;
            fit_to_dataset(&mut config, preset.as_deref(), &dataset, &args.dataset)?;
            let last_seed = config.seed.checked_add(args.seeds - 1).filter(|&s| s <= i64::MAX as u64);
            let Some(last_seed) = last_seed else {
                bail!(
                    "seeds {} to {} + {} do not fit: seeds must be at most {}",
                    config.seed,
                    config.seed,
                    args.seeds - 1,
                    i64::MAX
                )
            };
            let configs: Vec<TrainConfig> =
                (config.seed..=last_seed).map(|seed| TrainConfig { seed, ..config.clone() }).collect();
            let out = args.out.clone().unwrap_or_else(|| {
                let stem = dataset_name(&dataset, &args.dataset);
                let seeds = match args.seeds {
                    1 => format!("seed{}", config.seed),
                    _ => format!("seeds{}-{last_seed}", config.seed),
                };
                PathBuf::from("runs").join(format!("{stem}-{seeds}"))
            });
            if out.join("config.toml").exists() || SeedsDir::is_at(&out) {
                // The same command again continues (or leaves alone) the run it started.
                let runs = Runs::open(&out)?;
                if runs.configs()? != configs {
                    bail!(
                        "{} already holds a run with other settings: continue it with --resume {0}, or choose another --out",
                        out.display()
                    );
                }
                if runs.finished()? {
                    report.output(&format!("{} is already finished: nothing to do\n", out.display()));
                    return Ok(TrainOutcome::untouched(&runs, &configs, true));
                }
                check_inputs(gpu, &configs[0], &dataset, configs.len())?;
                return finish(gpu, dataset, runs, configs, args, report);
            }
            check_inputs(gpu, &configs[0], &dataset, configs.len())?;
            let runs = match args.seeds {
                1 => Runs::Single(RunDir::create_for(&out, &configs[0])?),
                _ => Runs::Seeds(SeedsDir::create(&out, &configs)?),
            };
            (runs, configs, dataset)
        }
    };
    finish(gpu, dataset, runs, configs, args, report)
}

/// The name runs of `dataset` (opened from `name`) are given: a Minari dataset's id (its file
/// is always main_data.hdf5), else the file's stem.
pub fn dataset_name(dataset: &Dataset, name: &Path) -> String {
    dataset
        .id
        .as_deref()
        .map(|id| id.replace('/', "-"))
        .unwrap_or_else(|| name.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
}

/// The settings of a run on the dataset `name`: its preset (`preset`, else the one named like
/// the dataset), then the file `config`, then `overrides`, then `seed`; with the preset used.
pub fn settings(
    name: &Path,
    preset: Option<&str>,
    config: Option<&Path>,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(TrainConfig, Option<String>)> {
    let preset = preset.map(str::to_string).or_else(|| preset_for_dataset(name).map(str::to_string));
    let mut settings = resolve(preset.as_deref(), config, overrides)?;
    // --seed wins over a `seed` in the config file or a --set.
    if let Some(seed) = seed {
        settings.seed = seed;
    }
    Ok((settings, preset))
}

/// Completes `config` with what `dataset` (opened from `name`) says: the environment to
/// evaluate in, unless set, and the reference scores, when automatic.
pub fn fit_to_dataset(config: &mut TrainConfig, preset: Option<&str>, dataset: &Dataset, name: &Path) -> Result<()> {
    if config.run.eval_env.spec().is_none() {
        // Evaluate where the data came from, when its metadata or name (or else the preset)
        // says.
        let from_preset = || preset.and_then(|p| p.parse::<EnvSpec>().ok());
        if let Some(spec) = env_of(dataset).or_else(from_preset) {
            config.run.eval_env = EvalEnv::of(spec);
        }
    }
    if config.run.score == ScoreMode::Auto {
        (config.run.score, config.run.ref_min_score, config.run.ref_max_score) =
            Scoring::of(&dataset.references).settings();
    }
    run_eval_env(config, name)?;
    Ok(())
}

/// The dataset `name` (a file or a Minari id), checked against the settings of the seeds' runs.
fn load_checked(gpu: &Gpu, name: &Path, configs: &[TrainConfig]) -> Result<Dataset> {
    let dataset = Dataset::open(name)?;
    check_inputs(gpu, &configs[0], &dataset, configs.len())?;
    Ok(dataset)
}

/// Trains the run and reports how it ended.
fn finish(
    gpu: &Gpu,
    dataset: Dataset,
    mut runs: Runs,
    configs: Vec<TrainConfig>,
    args: &TrainArgs,
    report: &dyn Report,
) -> Result<TrainOutcome> {
    let seeds = match configs.len() {
        1 => String::new(),
        n => format!(", {n} seeds together"),
    };
    report.message(&format!(
        "qipo train: {} on {} (preset '{}'{seeds}), run directory {}",
        args.dataset.display(),
        gpu.describe(),
        configs[0].preset,
        runs.path().display()
    ));
    for warning in &dataset.warnings {
        report.message(&format!("warning: {}: {warning}", dataset.source.display()));
    }
    let seed_runs: Vec<SeedRun> =
        runs.dirs().iter().zip(&configs).map(|(run, config)| SeedRun { run, config }).collect();
    let summaries = train_seeds(gpu, dataset, &seed_runs, args.stop_after, report)?;
    let mut outcome = TrainOutcome::untouched(&runs, &configs, false);
    for (seed, summary) in outcome.seeds.iter_mut().zip(&summaries) {
        seed.summary = summary.clone();
    }
    if summaries.iter().all(|s| s.already_finished) {
        report.output(&format!("{} is already finished: nothing to do\n", runs.path().display()));
        outcome.already_finished = true;
        return Ok(outcome);
    }
    if let Runs::Seeds(dir) = &runs {
        dir.plot()?;
    }
    if summaries.iter().any(|s| s.stopped) {
        let why = if report.stop_requested() { "on request" } else { "after the step budget" };
        report.output(&format!("stopped {why}; continue with --resume {}\n", runs.path().display()));
        outcome.stopped = true;
        return Ok(outcome);
    }
    let q = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    for ((summary, run), config) in summaries.iter().zip(runs.dirs()).zip(&configs) {
        if let Some(eval) = &summary.eval {
            report.message(crate::commands::eval::summary(eval).trim_end());
        }
        let seed = if configs.len() > 1 { format!("seed {}: ", config.seed) } else { String::new() };
        report.output(&format!(
            "{seed}done: mean Q of the dataset's actions {}, of the behaviour policy's {}, of the improved policy's {}; wrote {}\n",
            q(summary.q_dataset),
            q(summary.q_behaviour),
            q(summary.q_policy),
            run.path().display()
        ));
    }
    if let Runs::Seeds(dir) = &mut runs {
        let reports: Vec<EvalReport> = summaries.iter().filter_map(|s| s.eval.clone()).collect();
        if let Some(evaluation) = SeedsEvaluation::of(&reports).filter(|_| reports.len() == summaries.len()) {
            report.output(&format!(
                "{} seeds in {}: {} {:.1} ± {:.1}, return {:.1} ± {:.1} (mean ± standard error over seeds); wrote {}\n",
                reports.len(),
                evaluation.env,
                reports[0].score_name,
                evaluation.score_mean,
                evaluation.score_stderr,
                evaluation.return_mean,
                evaluation.return_stderr,
                dir.path().join(SEEDS_FILE).display()
            ));
            dir.write_evaluation(evaluation.clone())?;
            outcome.evaluation = Some(evaluation);
        }
    }
    Ok(outcome)
}
