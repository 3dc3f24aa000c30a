//! `qipo sample`: actions from a trained policy for the states of a dataset or a CSV file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};

use crate::data::Dataset;
use crate::flow::VelocityNet;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::random::{streams, RngStream};
use crate::rl::saved_policy::SavedPolicy;
use crate::rl::support::{SupportLayout, SupportSampler};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("states_from").required(true).args(["dataset", "states"])))]
pub struct SampleArgs {
    /// A run directory (its final policy; the behaviour policy if improvement has not run)
    /// or a policy checkpoint file.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Take the states from this dataset's observations (a file, a Minari id or an OGBench
    /// single-task name).
    #[arg(long, value_name = "FILE|NAME")]
    pub dataset: Option<PathBuf>,
    /// Take the states from this CSV file: a header line naming the columns, then one state
    /// per line.
    #[arg(long, value_name = "FILE.csv")]
    pub states: Option<PathBuf>,
    /// Actions sampled for each state.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Use only the first this many states (at least 1).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Euler steps of the sampler (default: the run's).
    #[arg(long)]
    pub euler_steps: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV: state, sample, a0, a1, ...
    #[arg(long)]
    pub out: PathBuf,
}

fn read_states_csv(path: &Path, dim: usize) -> Result<Vec<f32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows = crate::csv_rows::rows(&text).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = rows.into_iter();
    // The header is required, not guessed at: a first line of numbers is a state whose
    // header is missing, and skipping it would silently drop that state.
    if let Some((line, header)) = rows.next() {
        if header.iter().all(|cell| cell.parse::<f32>().is_ok()) {
            bail!(
                "{}: line {line} is a state, not a header: the file must start with a header line naming the columns",
                path.display()
            );
        }
    }
    let mut values = Vec::new();
    for (line, row) in rows {
        ensure!(row.len() == dim, "{}: line {line} has {} values, the policy takes {dim}", path.display(), row.len());
        for (c, cell) in row.iter().enumerate() {
            let v: f32 = cell.parse().map_err(|_| {
                anyhow::anyhow!("{}: line {line} column {}: '{cell}' is not a number", path.display(), c + 1)
            })?;
            ensure!(v.is_finite(), "{}: line {line} column {}: {v} is not finite", path.display(), c + 1);
            values.push(v);
        }
    }
    ensure!(!values.is_empty(), "{}: no states (a header line, then one state per line)", path.display());
    Ok(values)
}

pub fn run(gpu: &Gpu, args: SampleArgs) -> Result<()> {
    ensure!(args.n > 0, "--n must be at least 1");
    ensure!(args.limit != Some(0), "--limit must be at least 1");
    let saved = SavedPolicy::open(&args.checkpoint)?;
    let policy = saved.network(gpu)?;
    let run_euler = saved.euler_steps();
    let normalization = saved.normalization;
    let obs_dim = policy.spec.cond_dim;
    let mut states = match (&args.dataset, &args.states) {
        (Some(file), _) => {
            let data = Dataset::open(file)?;
            if data.obs_dim != obs_dim {
                bail!("{}: observations have {} values, the policy takes {obs_dim}", file.display(), data.obs_dim);
            }
            data.observations
        }
        (None, Some(file)) => read_states_csv(file, obs_dim)?,
        (None, None) => unreachable!("clap requires --dataset or --states"),
    };
    if let Some(limit) = args.limit {
        states.truncate(limit * obs_dim);
    }
    if let Some(norm) = &normalization {
        norm.apply_to_observations(&mut states);
    }
    let len = states.len() / obs_dim;
    let act = policy.spec.dim;
    let euler = args.euler_steps.or(run_euler).unwrap_or(10);
    let mut rng = RngStream::new(args.seed, streams::POLICY_NOISE);
    let values = sample_actions(gpu, &policy, &states, args.n, euler, &mut rng)?;

    let mut out = String::from("state,sample");
    for k in 0..act {
        write!(out, ",a{k}")?;
    }
    out.push('\n');
    for (row, action) in values.chunks(act).enumerate() {
        write!(out, "{},{}", row / args.n, row % args.n)?;
        for v in action {
            write!(out, ",{v}")?;
        }
        out.push('\n');
    }
    std::fs::write(&args.out, out).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} actions for {len} states to {}", values.len() / act, args.out.display());
    Ok(())
}

/// `n` actions for each of the (normalised) `states`, state by state, drawn with `euler`
/// Euler steps from the noise of `rng`, which advances: the actions of `qipo sample` and of
/// the Python package's `Policy.act`.
pub fn sample_actions(
    gpu: &Gpu,
    policy: &VelocityNet,
    states: &[f32],
    n: usize,
    euler: usize,
    rng: &mut RngStream,
) -> Result<Vec<f32>> {
    let len = states.len() / policy.spec.cond_dim;
    let state_buf = GpuBuffer::from_slice(gpu, "states", states)?;
    let actions = GpuBuffer::zeros(gpu, "sampled actions", len * n * policy.spec.dim)?;
    let sampler = SupportSampler::new(gpu, policy, &state_buf, len, &actions, SupportLayout::alone(n), euler)?;
    let mut rec = Recorder::new(gpu);
    sampler.record_all(&mut rec, policy, rng);
    rec.submit_and_wait()?;
    actions.read(gpu)
}
