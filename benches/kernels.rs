//! `cargo bench`: the kernel tables of `qipo bench kernels --large` (linear layer and Adam).

fn main() -> anyhow::Result<()> {
    let gpu = qipo::gpu::Gpu::new(&Default::default())?;
    let large = std::env::var_os("QIPO_BENCH_QUICK").is_none();
    let budgets = qipo::bench::kernels::Budgets::FULL;
    let results = qipo::bench::kernels::run(&gpu, large, budgets, |what| eprintln!("bench: {what}"))?;
    print!("{}", qipo::bench::kernels::format_table(&gpu, &results));
    Ok(())
}
