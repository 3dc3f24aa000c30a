//! `qipo bench`: the one table to quote. The training-stage benchmark (steps/s and time per
//! 100k steps of every QIPO stage, renewal, support sampling, the latency of one action for
//! each of 10 states) and the linear-layer kernels (GFLOP/s and the fraction of the adapter's
//! FP32 peak), with the device, date, version and sizes that make the numbers comparable.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;

use super::kernels::{self, Budgets, LinearGpuResult, LINEAR_SHAPES};
use super::peak::Peak;
use super::train::{self, duration, EnvResult, TrainBenchSizes};
use crate::gpu::Gpu;
use crate::report::Report;

/// The arguments of bare `qipo bench`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SummaryArgs {
    /// Small sizes that finish in seconds on a CPU driver (default: the paper's sizes).
    #[arg(long)]
    pub quick: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The adapter's FP32 peak in GFLOP/s (default: the spec sheet of a well-known GPU,
    /// matched on the adapter's name; else the fractions of peak are n/a).
    #[arg(long, value_name = "G", value_parser = positive_gflops)]
    pub peak_gflops: Option<f64>,
    /// Also write the JSON object to FILE (the table still goes to stdout).
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<std::path::PathBuf>,
}

fn positive_gflops(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(g) if g.is_finite() && g > 0.0 => Ok(g),
        _ => Err(format!("'{text}' is not a positive number of GFLOP/s")),
    }
}

/// The adapter, as wgpu reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// The one-line description the other benchmarks print.
    pub description: String,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// PCI vendor and device ids (0 where the backend has none).
    pub vendor_id: u32,
    pub device_id: u32,
}

impl Device {
    fn of(gpu: &Gpu) -> Self {
        let i = &gpu.info;
        Self {
            description: gpu.describe(),
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
            vendor_id: i.vendor,
            device_id: i.device,
        }
    }
}

/// One linear-layer shape, with its fractions of the peak (null where the peak is unknown).
#[derive(Debug, Clone, Serialize)]
pub struct LinearSummary {
    #[serde(flatten)]
    pub kernel: LinearGpuResult,
    pub forward_fraction_of_peak: Option<f64>,
    pub backward_fraction_of_peak: Option<f64>,
}

/// Everything `qipo bench --json` prints, as one object.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub qipo_version: String,
    /// The day of the measurement, YYYY-MM-DD (UTC).
    pub date: String,
    pub device: Device,
    pub gpu_timestamps: bool,
    /// Whether the sizes are `--quick`'s (else the paper's).
    pub quick: bool,
    pub sizes: TrainBenchSizes,
    pub peak: Peak,
    /// Per environment: every stage, renewal, support sampling and the one-action latency.
    pub environments: Vec<EnvResult>,
    pub linear: Vec<LinearSummary>,
}

/// Runs both benchmarks; `progress` hears what is being measured.
pub fn measure(gpu: &Gpu, quick: bool, peak_gflops: Option<f64>, mut progress: impl FnMut(&str)) -> Result<Summary> {
    let sizes = if quick { TrainBenchSizes::quick() } else { TrainBenchSizes::paper() };
    let training = train::run(gpu, &sizes, &mut progress)?;

    let peak = Peak::resolve(&gpu.info.name, peak_gflops);
    // The largest shapes take minutes on a CPU driver; `qipo bench kernels --large` has them.
    let large = !quick && gpu.info.device_type != wgpu::DeviceType::Cpu;
    // Operations per linear-layer measurement: `bench kernels`' (a fraction of a second per
    // shape on a CPU driver with `--quick`).
    let budget = if quick { Budgets::QUICK } else { Budgets::FULL }.gpu_flops;
    let mut linear = Vec::new();
    for &(rows, in_dim, out_dim) in &LINEAR_SHAPES {
        if !large && kernels::is_large(rows, in_dim, out_dim) {
            continue;
        }
        progress(&format!("linear {rows}x{in_dim}->{out_dim}"));
        let kernel = kernels::linear_gpu(gpu, rows, in_dim, out_dim, budget)?;
        linear.push(LinearSummary {
            forward_fraction_of_peak: peak.fraction(kernel.forward_gflops),
            backward_fraction_of_peak: peak.fraction(kernel.backward_gflops),
            kernel,
        });
    }

    Ok(Summary {
        qipo_version: env!("CARGO_PKG_VERSION").to_string(),
        date: utc_date(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
        device: Device::of(gpu),
        gpu_timestamps: training.gpu_timestamps,
        quick,
        sizes,
        peak,
        environments: training.environments,
        linear,
    })
}

/// `qipo bench`: measure, then hand the table or the JSON object to `out`.
pub fn run(gpu: &Gpu, args: SummaryArgs, out: &dyn Report) -> Result<()> {
    let summary = measure(gpu, args.quick, args.peak_gflops, |what| out.message(&format!("bench: {what}")))?;
    super::report(&summary, args.json, args.json_file.as_deref(), format_table, out)
}

/// YYYY-MM-DD of a time in seconds since the Unix epoch (UTC), by the proleptic Gregorian
/// calendar (Howard Hinnant's days-to-civil algorithm).
pub fn utc_date(seconds_since_epoch: u64) -> String {
    let z = (seconds_since_epoch / 86_400) as i64 + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // months since March
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Time for 100k steps: seconds under a minute, else h:mm:ss (hours may pass 24).
pub fn time_per_100k(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "n/a".into();
    }
    if seconds < 59.95 {
        return format!("{seconds:.1} s");
    }
    let total = seconds.round() as u64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

fn percent(fraction: Option<f64>) -> String {
    match fraction {
        Some(f) if f * 100.0 < 1.0 => format!("{:.2} %", f * 100.0),
        Some(f) => format!("{:.1} %", f * 100.0),
        None => "n/a".into(),
    }
}

/// One row of the table: benchmark, environment or shape, result, time per 100k steps,
/// fraction of the FP32 peak.
type Row = [String; 5];

fn rows(summary: &Summary) -> Vec<Row> {
    let s = &summary.sizes;
    let mut rows = Vec::new();
    for env in &summary.environments {
        for stage in &env.stages {
            rows.push([
                stage.stage.clone(),
                env.env.clone(),
                format!("{:.1} steps/s", stage.steps_per_s),
                time_per_100k(stage.seconds_per_100k),
                String::new(),
            ]);
        }
        let p = &env.sampling;
        rows.push([
            format!("renewal ({} states × {} actions)", s.transitions, s.support_actions),
            env.env.clone(),
            duration(p.renewal_s),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "support sampling".into(),
            env.env.clone(),
            format!("{:.0} actions/s", p.support_actions_per_s),
            String::new(),
            String::new(),
        ]);
        rows.push([
            format!("evaluation: one action for each of {} states", s.eval_states),
            env.env.clone(),
            format!("{:.2} ms median", p.action_latency_ms),
            String::new(),
            String::new(),
        ]);
    }
    for l in &summary.linear {
        let k = &l.kernel;
        let shape = format!("{}×{}→{}", k.rows, k.in_dim, k.out_dim);
        for (pass, gflops, fraction) in [
            ("linear forward", k.forward_gflops, l.forward_fraction_of_peak),
            ("linear backward (dX, dW)", k.backward_gflops, l.backward_fraction_of_peak),
        ] {
            rows.push([pass.into(), shape.clone(), format!("{gflops:.2} GFLOP/s"), String::new(), percent(fraction)]);
        }
    }
    rows
}

/// A Markdown table, padded so it also reads as plain text.
fn markdown(header: &Row, rows: &[Row], right_aligned: [bool; 5]) -> String {
    let width = |i: usize| rows.iter().chain([header]).map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    let line = |row: &Row| {
        let cells = row.iter().enumerate().map(|(i, cell)| {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if right_aligned[i] {
                format!(" {pad}{cell} ")
            } else {
                format!(" {cell}{pad} ")
            }
        });
        format!("|{}|\n", cells.collect::<Vec<_>>().join("|"))
    };
    let rule = (0..5)
        .map(|i| {
            let dashes = "-".repeat(widths[i].max(3));
            if right_aligned[i] {
                format!(" {}: ", &dashes[1..])
            } else {
                format!(" {dashes} ")
            }
        })
        .collect::<Vec<_>>()
        .join("|");
    let mut out = line(header);
    out += &format!("|{rule}|\n");
    rows.iter().for_each(|row| out += &line(row));
    out
}

/// The header lines, the table and what its columns mean.
pub fn format_table(summary: &Summary) -> String {
    let s = &summary.sizes;
    let mut out =
        format!("qipo {} bench, {} (UTC), on {}\n", summary.qipo_version, summary.date, summary.device.description);
    out += &format!("sizes ({}): {}\n", if summary.quick { "--quick" } else { "the paper's" }, s.describe());
    out += &match summary.peak.gflops {
        Some(g) => format!("FP32 peak: {:.1} TFLOP/s ({})\n\n", g / 1e3, summary.peak.source),
        None => "FP32 peak: n/a (not a GPU in the spec-sheet table; give it with --peak-gflops)\n\n".into(),
    };
    let header: Row = ["benchmark", "env / shape", "result", "per 100k steps", "of FP32 peak"].map(String::from);
    out += &markdown(&header, &rows(summary), [false, false, true, true, true]);
    let stamped = summary.linear.iter().all(|l| l.kernel.gpu_timestamps);
    let clock = if stamped { "GPU timestamps" } else { "the wall clock around each submit" };
    out += &format!(
        "\nsteps/s: wall clock around submit and wait, median of {} submits of {} steps. Evaluation: median of {} \
         calls, each uploading the states, sampling ({} Euler steps) and reading the actions back. GFLOP/s: {clock}; \
         shapes are rows × in → out.\n",
        s.timed_submits, s.steps_per_submit, s.latency_calls, s.euler_steps
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_per_100k_is_seconds_under_a_minute_then_hours_minutes_seconds() {
        assert_eq!(time_per_100k(0.04), "0.0 s");
        assert_eq!(time_per_100k(12.345), "12.3 s");
        assert_eq!(time_per_100k(59.9), "59.9 s");
        assert_eq!(time_per_100k(59.96), "0:01:00");
        assert_eq!(time_per_100k(228.3), "0:03:48");
        assert_eq!(time_per_100k(3600.0), "1:00:00");
        assert_eq!(time_per_100k(100_000.0 / 0.5), "55:33:20");
        assert_eq!(time_per_100k(f64::INFINITY), "n/a");
        assert_eq!(time_per_100k(f64::NAN), "n/a");
    }

    #[test]
    fn utc_dates_from_the_epoch() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(946_641_600), "1999-12-31");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_709_251_199), "2024-02-29");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
    }

    #[test]
    fn peak_flag_must_be_positive() {
        assert_eq!(positive_gflops("66900"), Ok(66_900.0));
        for bad in ["0", "-1", "inf", "NaN", "fast"] {
            assert!(positive_gflops(bad).is_err(), "{bad}");
        }
    }
}
