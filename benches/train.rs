//! `cargo bench --bench train`: the table of `qipo bench train` (QIPO's training stages at
//! the paper's sizes). `-- --quick` or QIPO_BENCH_QUICK=1 for small sizes, `-- --json` for
//! the JSON object.

use qipo::bench::train::{format_table, run, TrainBenchSizes};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = std::env::var_os("QIPO_BENCH_QUICK").is_some() || args.iter().any(|a| a == "--quick");
    let sizes = if quick { TrainBenchSizes::quick() } else { TrainBenchSizes::paper() };
    let gpu = qipo::gpu::Gpu::new(&Default::default())?;
    let results = run(&gpu, &sizes, |what| eprintln!("bench: {what}"))?;
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print!("{}", format_table(&results));
    }
    Ok(())
}
