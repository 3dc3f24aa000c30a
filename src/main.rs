//! The `qipo` command line.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "qipo", version, about = "Energy-weighted flow matching (QIPO) for offline RL on any GPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and check offline-RL datasets (D4RL or Minari HDF5).
    Dataset {
        #[command(subcommand)]
        command: qipo::data::cli::DatasetCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dataset { command } => qipo::data::cli::run(command),
    };
    if let Err(err) = result {
        // One line, naming what failed and why (anyhow's alternate form joins the context chain).
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
