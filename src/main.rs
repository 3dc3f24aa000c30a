//! The `qipo` command line.
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use qipo::commands::Terminal;
use qipo::gpu::{AdapterChoice, Gpu};

#[derive(Parser)]
#[command(name = "qipo", version, about = "Energy-weighted flow matching (QIPO) for offline RL on any GPU")]
struct Cli {
    /// GPU adapter: a name (substring) or an index from `qipo info`; default: the best one.
    /// WGPU_BACKEND=vulkan|metal|dx12|gl restricts the backends searched.
    #[arg(long, global = true, default_value = "auto")]
    adapter: AdapterChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the GPU adapters, the chosen one's limits and features, and self-test every kernel.
    Info {
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Train a QIPO policy on an offline-RL dataset (or resume a run).
    Train(qipo::commands::train::TrainArgs),
    /// Seeds × β grids on one or more datasets, trained in the same dispatches, with a results
    /// table against the paper (or a Slurm job array of them).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sweep(qipo::commands::sweep::SweepArgs),
    /// Evaluate a trained policy (or the zero or random baseline) in MuJoCo, AntMaze or OGBench.
    Eval(qipo::commands::eval::EvalArgs),
    /// Compare two runs' final evaluations, episode by episode: A - B with its standard error.
    Compare(qipo::commands::compare::CompareArgs),
    /// Sample actions from a trained policy.
    Sample(qipo::commands::sample::SampleArgs),
    /// Does a run's critic rank actions at a state the way MuJoCo's returns do?
    CheckCritic(qipo::commands::check_critic::CheckCriticArgs),
    /// Energy-guided generation on a 2-D toy problem, judged against the exact target.
    Toy(qipo::commands::toy::ToyArgs),
    /// Benchmarks. Without a subcommand: one table of the training stages, sampling,
    /// evaluation latency and the linear-layer kernels' share of the FP32 peak.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        what: Option<BenchCommand>,
        #[command(flatten)]
        summary: qipo::bench::summary::SummaryArgs,
    },
    /// Inspect and check offline-RL datasets (D4RL, Minari or OGBench).
    Dataset {
        #[command(subcommand)]
        command: qipo::commands::dataset::DatasetCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// GFLOP/s of the linear layer kernels and µs per Adam step, beside the CPU reference.
    Kernels {
        /// Include the largest shapes (4352×1024×1024 and 4096³) on a CPU driver too (GPUs always run them).
        #[arg(long)]
        large: bool,
        /// A twentieth of the work per measurement: seconds on a CPU driver.
        #[arg(long)]
        quick: bool,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write the JSON object to FILE (the table still goes to stdout).
        #[arg(long, value_name = "FILE")]
        json_file: Option<PathBuf>,
    },
    /// Steps/s of every QIPO training stage, renewal and sampling times, and the latency of
    /// one action per state, on synthetic hopper- and halfcheetah-shaped data.
    Train {
        /// Small sizes that finish in seconds on a CPU driver (default: the paper's sizes).
        #[arg(long)]
        quick: bool,
        /// Seeds trained together in every step (as `qipo train --seeds`).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
        seeds: u64,
        /// Values of β per seed in one more policy-improvement line: the grid `qipo sweep`
        /// trains, seeds × β copies in the same dispatches.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
        betas: u64,
        /// The policy's network: the MLP (beside the PyTorch baseline's), or the task presets'
        /// residual network with their behaviour batches (QGPO's 4096).
        #[arg(long, value_enum, default_value = "mlp")]
        policy: qipo::rl::config::PolicyNetKind,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write the JSON object to FILE (the table still goes to stdout).
        #[arg(long, value_name = "FILE")]
        json_file: Option<PathBuf>,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { json } => qipo::commands::info::run(&Gpu::new(&cli.adapter)?, json),
        Command::Bench { what: None, summary } => {
            qipo::bench::summary::run(&Gpu::new(&cli.adapter)?, summary, &Terminal)
        }
        Command::Bench { what: Some(BenchCommand::Kernels { large, quick, json, json_file }), .. } => {
            use qipo::bench::kernels::{self, Budgets};
            let gpu = Gpu::new(&cli.adapter)?;
            let budgets = if quick { Budgets::QUICK } else { Budgets::FULL };
            let results = kernels::run(&gpu, large, budgets, |what| eprintln!("bench: {what}"))?;
            qipo::bench::report(&results, json, json_file.as_deref(), |r| kernels::format_table(&gpu, r), &Terminal)
        }
        Command::Bench { what: Some(BenchCommand::Train { quick, seeds, betas, policy, json, json_file }), .. } => {
            use qipo::bench::train::{self, TrainBenchSizes};
            use qipo::rl::config::PolicyNetKind;
            let gpu = Gpu::new(&cli.adapter)?;
            let sizes = match (quick, policy) {
                (false, PolicyNetKind::Mlp) => TrainBenchSizes::paper(),
                (true, PolicyNetKind::Mlp) => TrainBenchSizes::quick(),
                (false, PolicyNetKind::Resnet) => TrainBenchSizes::paper_resnet(),
                (true, PolicyNetKind::Resnet) => TrainBenchSizes::quick_resnet(),
            };
            let sizes = TrainBenchSizes { seeds: seeds as usize, betas: betas as usize, ..sizes };
            let results = train::run(&gpu, &sizes, |what| eprintln!("bench: {what}"))?;
            qipo::bench::report(&results, json, json_file.as_deref(), train::format_table, &Terminal)
        }
        Command::Train(args) => qipo::commands::train::run(&Gpu::new(&cli.adapter)?, args),
        Command::Sweep(args) => qipo::commands::sweep::run(&cli.adapter, args),
        Command::Eval(args) => qipo::commands::eval::run(&cli.adapter, args),
        Command::Compare(args) => qipo::commands::compare::run(args),
        Command::Sample(args) => qipo::commands::sample::run(&Gpu::new(&cli.adapter)?, args),
        Command::CheckCritic(args) => {
            let check = qipo::commands::check_critic::run(&Gpu::new(&cli.adapter)?, &args)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&check)?);
            } else {
                print!("{}", qipo::commands::check_critic::render(&check));
            }
            Ok(())
        }
        Command::Toy(args) => qipo::commands::toy::run(&Gpu::new(&cli.adapter)?, args),
        Command::Dataset { command } => qipo::commands::dataset::run(command),
    }
}

fn main() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // The Vulkan loader complains on machines without a login session; give it a directory.
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    if let Err(err) = run(Cli::parse()) {
        // One line, naming what failed and why (anyhow's alternate form joins the context chain).
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
