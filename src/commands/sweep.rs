//! `qipo sweep`: seeds × β (× policy learning rate) grids on one or more datasets, each
//! dataset's grid trained in the same dispatches, the results table against the paper, and
//! the Slurm job array that spreads the datasets over a cluster's GPUs (see [`crate::sweep`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};

use crate::commands::train::{dataset_name, fit_to_dataset, settings};
use crate::commands::Terminal;
use crate::data::stats::Summary;
use crate::data::Dataset;
use crate::eval::EvalReport;
use crate::gpu::{AdapterChoice, Gpu};
use crate::report::Report;
use crate::rl::config::{CopySettings, PolicyConfig, TrainConfig};
use crate::rl::presets::preset_for_dataset;
use crate::rl::train::{check_inputs, train_seeds, SeedRun};
use crate::run::remove_temporaries_in;
use crate::run::seeds::{SeedsDir, SeedsEvaluation};
use crate::sweep::grid::{Grid, BETA_KEY, LR_KEY};
use crate::sweep::results::{SweepResults, RESULTS_MD};
use crate::sweep::slurm::{check_sbatch, write_script, SlurmJob};
use crate::sweep::{cell_dir, SweepDataset, SweepPlan};

/// The most seeds a sweep trains per cell (as `qipo train --seeds`).
const MAX_SEEDS: u64 = 256;

/// The arguments of `qipo sweep` (the command takes `args_conflicts_with_subcommands` and
/// `subcommand_negates_reqs`, so `qipo sweep report DIR` needs none of them).
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The datasets (as `qipo train --dataset` takes them), trained one after another.
    #[arg(long, value_name = "FILE|NAME", num_args = 1.., required = true)]
    pub dataset: Vec<PathBuf>,
    /// Settings of a task; default: the one named like each dataset, if any.
    #[arg(long, value_name = "TASK")]
    pub preset: Option<String>,
    /// A TOML file of settings, applied over the preset.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// A setting of every cell, `key=value`, or the grid's values, `policy.beta=0,1,3`
    /// (repeatable; policy.beta and policy.lr take several values).
    #[arg(long = "set", value_name = "KEY=V1,V2,...")]
    pub overrides: Vec<String>,
    /// The first seed (default: the settings' seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seeds per cell: the seed, seed + 1, ...
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_SEEDS))]
    pub seeds: u64,
    /// The sweep directory; the same command again continues the sweep in it.
    // An `Option` only because `qipo sweep report` takes none; clap still requires it here.
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
    /// Stop (resumably) after this many optimisation steps of the dataset under way.
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stop_after: Option<u64>,
    /// Train only the dataset of this index (from 0), as a Slurm array element does; the
    /// results are left to `qipo sweep report`.
    #[arg(long, value_name = "I")]
    pub part: Option<usize>,
    /// Write a Slurm job-array script instead of training: an element per dataset, then a
    /// job running `qipo sweep report`.
    #[arg(long, value_name = "FILE.sbatch")]
    pub slurm: Option<PathBuf>,
    /// With --slurm: GPUs per array element (0: ask for none).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub slurm_gpus: u32,
    /// With --slurm: time limit per array element.
    #[arg(long, value_name = "HH:MM:SS", default_value = "24:00:00")]
    pub slurm_time: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum SweepCommand {
    /// Rebuild results.md, results.json and results.png of a sweep from whatever cells have
    /// finished, marking the missing ones.
    Report {
        /// The sweep directory.
        dir: PathBuf,
    },
}

/// `qipo sweep` on the terminal.
pub fn run(adapter: &AdapterChoice, args: SweepArgs) -> Result<()> {
    match &args.command {
        Some(SweepCommand::Report { dir }) => report(dir, &Terminal),
        None => sweep(adapter, &args, &Terminal),
    }
}

/// Writes a sweep's results from its finished cells, and prints the table.
pub fn report(dir: &Path, report: &dyn Report) -> Result<()> {
    let plan = SweepPlan::read(dir)?;
    let results = SweepResults::collect(dir, &plan)?;
    results.write(dir)?;
    report.output(&results.markdown());
    report.message(&format!("wrote {}", dir.join(RESULTS_MD).display()));
    Ok(())
}

/// Trains the sweep `args` names (or writes its Slurm script), dataset after dataset.
pub fn sweep(adapter: &AdapterChoice, args: &SweepArgs, report: &dyn Report) -> Result<()> {
    let out = args.out.as_deref().context("qipo sweep needs --out DIR")?;
    let grid = Grid::parse(&args.overrides)?;
    // Everything is checked before anything is written: bad input leaves nothing behind.
    if let Some(part) = args.part {
        ensure!(
            part < args.dataset.len(),
            "--part {part}: the sweep has {} datasets (0 to {})",
            args.dataset.len(),
            args.dataset.len() - 1
        );
    }
    if let Some(file) = &args.slurm {
        ensure!(args.part.is_none(), "--part is for the array elements --slurm writes, not with --slurm");
        check_sbatch()?;
        let plan = plan(None, args, &grid)?;
        plan.write_or_check(out)?;
        let program = std::env::current_exe()?;
        let workdir = std::env::current_dir()?;
        let sweep_args = element_args(args);
        let job = SlurmJob {
            program: &program,
            workdir: &workdir,
            sweep_args: &sweep_args,
            out,
            datasets: plan.datasets.len(),
            gpus: args.slurm_gpus,
            time: &args.slurm_time,
        };
        write_script(file, &job)?;
        report.output(&format!(
            "wrote {}: a job array of {} elements (one per dataset) and a report job; submit both with `bash {0}`\n",
            file.display(),
            plan.datasets.len()
        ));
        return Ok(());
    }
    let gpu = Gpu::new(adapter)?;
    let plan = plan(Some(&gpu), args, &grid)?;
    plan.write_or_check(out)?;
    for (i, dataset) in plan.datasets.iter().enumerate() {
        if args.part.is_some_and(|part| part != i) {
            continue;
        }
        let lrs = match dataset.lrs.is_empty() {
            true => String::new(),
            false => format!(" × policy.lr in {:?}", dataset.lrs),
        };
        report.message(&format!(
            "qipo sweep: dataset {} of {}, {}: {} seeds × β in {:?}{lrs}",
            i + 1,
            plan.datasets.len(),
            dataset.name,
            plan.seeds,
            dataset.betas
        ));
        if !train_dataset(&gpu, args, out, &plan, dataset, report)? {
            report.output(&format!(
                "stopped after the step budget; run the same command to continue {}\n",
                out.display()
            ));
            return Ok(());
        }
    }
    if args.part.is_none() {
        self::report(out, report)?;
    }
    Ok(())
}

/// The arguments an array element runs `qipo sweep` with: the sweep's, without the Slurm
/// options.
fn element_args(args: &SweepArgs) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for dataset in &args.dataset {
        out.extend(["--dataset".into(), dataset.display().to_string()]);
    }
    let mut option = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.extend([name.to_string(), value]);
        }
    };
    option("--preset", args.preset.clone());
    option("--config", args.config.as_ref().map(|p| p.display().to_string()));
    option("--seed", args.seed.map(|s| s.to_string()));
    option("--seeds", Some(args.seeds.to_string()));
    option("--out", args.out.as_ref().map(|p| p.display().to_string()));
    option("--stop-after", args.stop_after.map(|s| s.to_string()));
    for setting in &args.overrides {
        out.extend(["--set".into(), setting.clone()]);
    }
    out
}

/// The plan of the sweep: every dataset opened, its settings resolved for each β, and (with
/// a GPU) its grid's networks checked against the adapter.
fn plan(gpu: Option<&Gpu>, args: &SweepArgs, grid: &Grid) -> Result<SweepPlan> {
    let mut datasets: Vec<SweepDataset> = Vec::new();
    let mut seed = None;
    for source in &args.dataset {
        let dataset = Dataset::open(source)?;
        let base = base_config(args, &grid.fixed, source, &dataset)?;
        let name = dataset_name(&dataset, source);
        if let Some(other) = datasets.iter().find(|d| d.name == name) {
            bail!(
                "{} and {} would share the sweep folder {name}: give each dataset once",
                other.source.display(),
                source.display()
            );
        }
        let betas = match &grid.betas {
            None => vec![base.policy.beta],
            Some(values) => grid_values(args, source, &grid.fixed, BETA_KEY, values, |p| p.beta)?,
        };
        let lrs = match &grid.lrs {
            None => Vec::new(),
            Some(values) => grid_values(args, source, &grid.fixed, LR_KEY, values, |p| p.lr)?,
        };
        if let Some(gpu) = gpu {
            check_inputs(gpu, &base, &dataset, (args.seeds as usize) * betas.len() * lrs.len().max(1))?;
        }
        seed = Some(base.seed);
        datasets.push(SweepDataset {
            source: source.clone(),
            name,
            task: preset_for_dataset(source).map(str::to_string),
            betas,
            lrs,
            dataset_score: Summary::of(&dataset).normalized_score,
        });
    }
    let seed = seed.expect("clap asks for at least one dataset");
    ensure!(
        seed.checked_add(args.seeds - 1).is_some_and(|s| s <= i64::MAX as u64),
        "seeds {seed} to {seed} + {} do not fit: seeds must be at most {}",
        args.seeds - 1,
        i64::MAX
    );
    Ok(SweepPlan {
        datasets,
        seed,
        seeds: args.seeds,
        preset: args.preset.clone(),
        config: args.config.clone(),
        fixed: grid.fixed.clone(),
    })
}

/// The values `values` of the grid's setting `key` on `source`, each read as the settings
/// (with the `fixed` ones) take it, so a bad value is refused as `qipo train` refuses it.
fn grid_values(
    args: &SweepArgs,
    source: &Path,
    fixed: &[String],
    key: &str,
    values: &[String],
    pick: fn(&PolicyConfig) -> f64,
) -> Result<Vec<f64>> {
    values
        .iter()
        .map(|value| {
            let with_value: Vec<String> = fixed.iter().cloned().chain([format!("{key}={value}")]).collect();
            let (config, _) = settings(source, args.preset.as_deref(), args.config.as_deref(), &with_value, args.seed)?;
            Ok(pick(&config.policy))
        })
        .collect()
}

/// The settings of the cells of `dataset` (opened from `source`) but the grid's, with the `fixed`
/// settings, completed from the dataset as `qipo train` does.
fn base_config(args: &SweepArgs, fixed: &[String], source: &Path, dataset: &Dataset) -> Result<TrainConfig> {
    let (mut config, preset) = settings(source, args.preset.as_deref(), args.config.as_deref(), fixed, args.seed)?;
    fit_to_dataset(&mut config, preset.as_deref(), dataset, source)?;
    Ok(config)
}

/// Whether every run of a cell has finished.
fn finished(cell: &SeedsDir) -> Result<bool> {
    for run in &cell.runs {
        if !run.read_state()?.finished {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Trains (or continues) every unfinished cell of `dataset` together; false when the step
/// budget stopped it.
fn train_dataset(
    gpu: &Gpu,
    args: &SweepArgs,
    out: &Path,
    plan: &SweepPlan,
    dataset: &SweepDataset,
    report: &dyn Report,
) -> Result<bool> {
    let data = Dataset::open(&dataset.source)?;
    let base = base_config(args, &plan.fixed, &dataset.source, &data)?;
    let grid = dataset.cells();
    let cell_configs: Vec<Vec<TrainConfig>> = grid
        .iter()
        .map(|cell| {
            let copy = CopySettings { beta: cell.beta, lr: cell.lr.unwrap_or(base.policy.lr) };
            let policy = base.policy.with_copy_settings(copy);
            plan.seed_numbers()
                .into_iter()
                .map(|seed| TrainConfig { seed, policy: policy.clone(), ..base.clone() })
                .collect()
        })
        .collect();
    let mut cells = Vec::new();
    for (&cell, configs) in grid.iter().zip(&cell_configs) {
        cells.push(open_cell(&cell_dir(out, dataset, cell), configs)?);
    }
    let mut unfinished = Vec::new();
    for (b, cell) in cells.iter().enumerate() {
        if !finished(cell)? {
            unfinished.push(b);
        }
    }
    if unfinished.is_empty() {
        report.message(&format!("{}: every cell is finished", dataset.name));
        return Ok(true);
    }
    let seeds = plan.seeds as usize;
    check_inputs(gpu, &base, &data, seeds * unfinished.len())?;
    // Seed by seed, each seed's cells in turn: the order train_seeds takes a grid in.
    let seed_runs: Vec<SeedRun> = (0..seeds)
        .flat_map(|k| unfinished.iter().map(move |&b| (k, b)))
        .map(|(k, b)| SeedRun { run: &cells[b].runs[k], config: &cell_configs[b][k] })
        .collect();
    let summaries = train_seeds(gpu, data, &seed_runs, args.stop_after, report)?;
    if summaries.iter().any(|s| s.stopped) {
        return Ok(false);
    }
    for (j, &b) in unfinished.iter().enumerate() {
        let cell = &mut cells[b];
        cell.plot()?;
        let reports: Vec<EvalReport> =
            (0..seeds).filter_map(|k| summaries[k * unfinished.len() + j].eval.clone()).collect();
        if reports.len() == seeds {
            if let Some(evaluation) = SeedsEvaluation::of(&reports) {
                let lr = grid[b].lr.map(|lr| format!(", lr = {lr}")).unwrap_or_default();
                report.output(&format!(
                    "{} β = {}{lr}: {} {:.1} ± {:.1} over {seeds} seeds; wrote {}\n",
                    dataset.name,
                    grid[b].beta,
                    reports[0].score_name,
                    evaluation.score_mean,
                    evaluation.score_stderr,
                    cell.path().display()
                ));
                cell.write_evaluation(evaluation)?;
            }
        }
    }
    Ok(true)
}

/// The multi-seed run directory of one cell, created or, when a run of the same command
/// made it, opened; its runs locked.
fn open_cell(path: &Path, configs: &[TrainConfig]) -> Result<SeedsDir> {
    let mut cell = if SeedsDir::is_at(path) {
        let cell = SeedsDir::open(path)?;
        let existing = cell.runs.iter().map(|run| run.read_config()).collect::<Result<Vec<_>>>()?;
        ensure!(
            existing == configs,
            "{} already holds a run with other settings: choose another --out",
            path.display()
        );
        cell
    } else {
        SeedsDir::create(path, configs)?
    };
    for run in &mut cell.runs {
        run.lock()?;
    }
    remove_temporaries_in(cell.path())?;
    Ok(cell)
}
