//! `qipo toy`: energy-guided generation on a 2-D toy problem (or any point cloud with
//! energies), judged against the exact guided target.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Terminal;
use crate::gpu::Gpu;
use crate::nn::Activation;
use crate::report::{Report as _, Task, Unit};
use crate::stats::mean_f32;
use crate::toy::train::{train_and_sample, ToyConfig};
use crate::toy::{energy_distance, load_csv, plot_comparison, sample_exact_target, write_samples_csv, ToyDataset};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["dataset", "data"])))]
pub struct ToyArgs {
    /// A built-in toy dataset.
    #[arg(long, value_enum)]
    pub dataset: Option<ToyDataset>,
    /// A CSV file with a header: coordinate columns, then an `energy` column.
    #[arg(long, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// Guidance strength: the target is p(x)·exp(-beta·E(x)); 0 is plain flow matching.
    #[arg(long)]
    pub beta: f32,
    /// Training steps.
    #[arg(long, default_value_t = ToyConfig::default().steps)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created): samples.csv, metrics.json, toy.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Pairs per training step.
    #[arg(long, default_value_t = ToyConfig::default().batch)]
    pub batch: usize,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ToyConfig::default().hidden)]
    pub hidden: Vec<usize>,
    #[arg(long, value_enum, default_value_t = ToyConfig::default().activation)]
    pub activation: Activation,
    /// Peak learning rate (cosine decay to 5% of it).
    #[arg(long, default_value_t = ToyConfig::default().lr)]
    pub lr: f64,
    /// Samples drawn from the model (and from the exact target to compare with).
    #[arg(long, default_value_t = ToyConfig::default().samples)]
    pub samples: usize,
    /// Euler steps of the sampler.
    #[arg(long, default_value_t = ToyConfig::default().euler_steps)]
    pub euler_steps: usize,
    /// Fourier features of the time embedding.
    #[arg(long, default_value_t = ToyConfig::default().time_features)]
    pub time_features: usize,
    /// Standard deviation of the time embedding's frequencies.
    #[arg(long, default_value_t = ToyConfig::default().time_scale)]
    pub time_scale: f32,
    /// Points drawn from a built-in dataset to train on.
    #[arg(long, default_value_t = 100_000)]
    pub data_points: usize,
}

/// What metrics.json holds.
#[derive(Serialize)]
struct ToyMetrics<'a> {
    source: String,
    points: usize,
    dim: usize,
    /// Energy distance (V-statistic) of the model's samples to an exact-target sample.
    energy_distance: f64,
    /// The same distance between two independent exact-target samples of the same size.
    noise_floor: f64,
    /// The distance of an unguided data sample to the exact target: what guidance must close.
    data_to_target: f64,
    /// 1 - energy_distance / data_to_target (null when the data already is the target).
    closed_fraction: Option<f64>,
    mean_energy_model: f64,
    mean_energy_target: f64,
    mean_energy_data: f64,
    final_loss: f32,
    seconds: f64,
    config: &'a ToyConfig,
}

pub fn run(gpu: &Gpu, args: ToyArgs) -> Result<()> {
    let config = ToyConfig {
        beta: args.beta,
        steps: args.steps,
        batch: args.batch,
        hidden: args.hidden.clone(),
        activation: args.activation,
        lr: args.lr,
        samples: args.samples,
        euler_steps: args.euler_steps,
        seed: args.seed,
        time_features: args.time_features,
        time_scale: args.time_scale,
        ..Default::default()
    };
    let (source, data) = match (&args.dataset, &args.data) {
        (Some(d), _) => (d.name().to_string(), d.sample(args.data_points, args.seed)),
        (None, Some(path)) => (path.display().to_string(), load_csv(path)?),
        (None, None) => unreachable!("clap requires --dataset or --data"),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;

    let start = std::time::Instant::now();
    let label = format!("toy {source} beta={}", config.beta);
    let bar = Terminal.progress(Task { label, total: config.steps as u64, done: 0, unit: Unit::Steps });
    let mut final_loss = f32::NAN;
    let samples = train_and_sample(gpu, &data, &config, |step, loss| {
        final_loss = loss;
        bar.set_done(step as u64);
        bar.set_note(&format!("loss {loss:.4}"));
    })?;
    bar.finish();

    // Exact references, each as large as the model's sample.
    let n = config.samples;
    let target = sample_exact_target(&data, config.beta, n, args.seed.wrapping_add(1))?;
    let target_again = sample_exact_target(&data, config.beta, n, args.seed.wrapping_add(2))?;
    let data_sample = sample_exact_target(&data, 0.0, n, args.seed.wrapping_add(3))?;
    let dim = data.dim;
    let distance = energy_distance(&samples, &target.points, dim)?;
    let data_to_target = energy_distance(&data_sample.points, &target.points, dim)?;
    let model_energy = match args.dataset {
        Some(d) if dim == 2 => Some(mean_f32(&d.energies(&samples))),
        _ => None,
    };
    let metrics = ToyMetrics {
        source,
        points: data.len(),
        dim,
        energy_distance: distance,
        noise_floor: energy_distance(&target_again.points, &target.points, dim)?,
        data_to_target,
        closed_fraction: (data_to_target > 0.0).then(|| 1.0 - distance / data_to_target),
        mean_energy_model: model_energy.unwrap_or(f64::NAN),
        mean_energy_target: mean_f32(&target.energies),
        mean_energy_data: mean_f32(&data_sample.energies),
        final_loss,
        seconds: start.elapsed().as_secs_f64(),
        config: &config,
    };

    write_samples_csv(&args.out.join("samples.csv"), &samples, dim)?;
    let json = serde_json::to_string_pretty(&metrics)?.replace("NaN", "null");
    std::fs::write(args.out.join("metrics.json"), json + "\n")
        .with_context(|| format!("cannot write {}", args.out.join("metrics.json").display()))?;
    let title = format!("{} (beta = {})", metrics.source, config.beta);
    plot_comparison(&args.out.join("toy.png"), &title, dim, &data_sample.points, &target.points, &samples)?;
    println!(
        "energy distance to the exact target {:.4} (noise floor {:.4}, data {:.4}); wrote {}",
        metrics.energy_distance,
        metrics.noise_floor,
        metrics.data_to_target,
        args.out.display()
    );
    Ok(())
}
