//! The Python package's native module, `qipo._native` (feature `python`): thin bindings over
//! the functions the command line calls, so Python and `qipo` give the same results. The
//! package's Python side (`python/qipo/`) turns numpy arrays into bytes and JSON into dicts.
//!
//! Every call releases the GIL while the library works. An error becomes `qipo.QipoError`
//! with the command line's one-line message, and a panic is caught here and becomes one too:
//! neither crosses into Python as anything else.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{anyhow, bail, ensure, Result};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::commands::eval::{Baseline, EvalArgs};
use crate::commands::train::{TrainArgs, TrainOutcome};
use crate::commands::Terminal;
use crate::data::Normalization;
use crate::envs::EnvSpec;
use crate::flow::VelocityNet;
use crate::gpu::context::list_adapters;
use crate::gpu::{AdapterChoice, Gpu};
use crate::random::{streams, RngStream};
use crate::report::{Progress, Report, Task};
use crate::rl::saved_policy::SavedPolicy;

create_exception!(_native, QipoError, PyException, "An error of qipo, with its one-line message.");

/// `f` run without the GIL; its error or panic as a `QipoError`.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    py.detach(|| match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|err| format!("{err:#}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(format!("internal error: {what}"))
        }
    })
    .map_err(QipoError::new_err)
}

fn adapter(choice: &str) -> Result<AdapterChoice> {
    choice.parse().map_err(|e| anyhow!("adapter '{choice}': {e}"))
}

/// The adapters, best first, as a JSON list.
#[pyfunction]
fn devices(py: Python<'_>) -> PyResult<String> {
    run(py, || {
        let adapters: Vec<serde_json::Value> = list_adapters()
            .iter()
            .enumerate()
            .map(|(index, a)| {
                let info = a.get_info();
                serde_json::json!({
                    "index": index,
                    "name": info.name,
                    "backend": format!("{:?}", info.backend),
                    "device_type": format!("{:?}", info.device_type),
                    "driver": info.driver,
                    "driver_info": info.driver_info,
                })
            })
            .collect();
        Ok(serde_json::to_string(&adapters)?)
    })
}

/// `qipo dataset inspect --json`.
#[pyfunction]
#[pyo3(signature = (dataset, env=None))]
fn inspect(py: Python<'_>, dataset: PathBuf, env: Option<String>) -> PyResult<String> {
    run(py, || {
        let env = env.map(|e| e.parse().map_err(|err: String| anyhow!("env '{e}': {err}"))).transpose()?;
        Ok(serde_json::to_string(&crate::commands::dataset::summary(&dataset, env)?)?)
    })
}

/// Where training's notes go from Python: stderr, and Ctrl-C checked at every logged
/// interval. The library's code runs without the GIL, so Python's SIGINT handler only runs
/// when asked to here; its KeyboardInterrupt is kept and raised once the run has stopped.
struct Stderr {
    interrupt: Mutex<Option<PyErr>>,
}

impl Report for Stderr {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }

    fn output(&self, text: &str) {
        eprint!("{text}");
    }

    fn progress(&self, task: Task) -> Box<dyn Progress> {
        // The command line's bars, drawn on stderr where it is a terminal.
        Terminal.progress(task)
    }

    fn stop_requested(&self) -> bool {
        let mut interrupt = self.interrupt.lock().unwrap_or_else(|e| e.into_inner());
        if interrupt.is_none() {
            *interrupt = Python::attach(|py| py.check_signals()).err();
        }
        interrupt.is_some()
    }
}

/// `qipo train`; the outcome as JSON.
#[pyfunction]
#[pyo3(signature = (dataset, preset=None, config=None, overrides=Vec::new(), out=None, seed=None, seeds=1, stop_after=None, adapter="auto"))]
#[allow(clippy::too_many_arguments)] // Python's keyword arguments, one per flag of `qipo train`.
fn train(
    py: Python<'_>,
    dataset: PathBuf,
    preset: Option<String>,
    config: Option<PathBuf>,
    overrides: Vec<String>,
    out: Option<PathBuf>,
    seed: Option<u64>,
    seeds: u64,
    stop_after: Option<u64>,
    adapter: &str,
) -> PyResult<String> {
    let report = Stderr { interrupt: Mutex::new(None) };
    let outcome = run(py, || {
        let args = TrainArgs { dataset, preset, config, overrides, out, seed, seeds, resume: None, stop_after };
        let gpu = Gpu::new(&self::adapter(adapter)?)?;
        let outcome = crate::commands::train::train(&gpu, &args, &report)?;
        outcome_json(&outcome)
    })?;
    match report.interrupt.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(interrupt) => Err(interrupt),
        None => Ok(outcome),
    }
}

fn outcome_json(outcome: &TrainOutcome) -> Result<String> {
    let seeds: Vec<serde_json::Value> = outcome
        .seeds
        .iter()
        .map(|seed| {
            let s = &seed.summary;
            serde_json::json!({
                "seed": seed.seed,
                "run_dir": seed.path,
                "q_dataset": s.q_dataset,
                "q_behaviour": s.q_behaviour,
                "q_policy": s.q_policy,
                "eval": s.eval,
            })
        })
        .collect();
    let finished = !outcome.stopped;
    Ok(serde_json::to_string(&serde_json::json!({
        "run_dir": outcome.path,
        "finished": finished,
        "already_finished": outcome.already_finished,
        "stopped": outcome.stopped,
        "seeds": seeds,
        "evaluation": outcome.evaluation,
    }))?)
}

/// `qipo eval --json`: of a checkpoint, or of a baseline (`"zero"`, `"random"`).
#[pyfunction]
#[pyo3(signature = (checkpoint=None, policy=None, env=None, dataset=None, episodes=10, seed=0, euler_steps=None, adapter="auto"))]
#[allow(clippy::too_many_arguments)] // Python's keyword arguments, one per flag of `qipo eval`.
fn evaluate(
    py: Python<'_>,
    checkpoint: Option<PathBuf>,
    policy: Option<String>,
    env: Option<String>,
    dataset: Option<PathBuf>,
    episodes: usize,
    seed: u64,
    euler_steps: Option<usize>,
    adapter: &str,
) -> PyResult<String> {
    run(py, || {
        ensure!(checkpoint.is_none() || policy.is_none(), "pass a checkpoint or a baseline policy, not both");
        let policy = policy
            .map(|p| match p.as_str() {
                "zero" => Ok(Baseline::Zero),
                "random" => Ok(Baseline::Random),
                _ => Err(anyhow!("policy '{p}': expected 'zero' or 'random'")),
            })
            .transpose()?;
        let env = env.map(|e| e.parse::<EnvSpec>().map_err(|err| anyhow!("env '{e}': {err}"))).transpose()?;
        let args = EvalArgs { checkpoint, policy, env, dataset, episodes, seed, euler_steps, json: true };
        let report = crate::commands::eval::evaluation(&self::adapter(adapter)?, &args, false)?;
        Ok(serde_json::to_string(&report)?)
    })
}

/// A trained policy on the GPU, acting as `qipo sample` does.
#[pyclass(frozen)]
struct Policy {
    gpu: Gpu,
    net: VelocityNet,
    normalization: Option<Normalization>,
    #[pyo3(get)]
    euler_steps: usize,
    /// "policy" or "behaviour": which network of the checkpoint.
    #[pyo3(get)]
    network: String,
    /// The noise of calls without a seed: one stream, advancing call by call.
    noise: Mutex<RngStream>,
}

#[pymethods]
impl Policy {
    /// The policy of a run directory (its final policy; the behaviour policy if improvement
    /// has not run) or of a checkpoint file. Calls without a seed draw their noise from one
    /// stream seeded with `seed`.
    #[staticmethod]
    #[pyo3(signature = (path, seed=0, adapter="auto"))]
    fn load(py: Python<'_>, path: PathBuf, seed: u64, adapter: &str) -> PyResult<Self> {
        run(py, || {
            let saved = SavedPolicy::open(&path)?;
            let gpu = Gpu::new(&self::adapter(adapter)?)?;
            let net = saved.network(&gpu)?;
            Ok(Self {
                euler_steps: saved.euler_steps().unwrap_or(10),
                network: saved.prefix.clone(),
                normalization: saved.normalization,
                gpu,
                net,
                noise: Mutex::new(RngStream::new(seed, streams::POLICY_NOISE)),
            })
        })
    }

    #[getter]
    fn obs_dim(&self) -> usize {
        self.net.spec.cond_dim
    }

    #[getter]
    fn act_dim(&self) -> usize {
        self.net.spec.dim
    }

    /// `n` actions for each state of `states` (float32 bytes, whole states), as float32
    /// bytes, state by state. With a seed, exactly `qipo sample --seed`'s noise.
    #[pyo3(signature = (states, n=1, seed=None))]
    fn act<'py>(&self, py: Python<'py>, states: Vec<u8>, n: usize, seed: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        let actions = run(py, || {
            ensure!(n > 0, "n must be at least 1");
            let width = 4 * self.net.spec.cond_dim;
            if states.is_empty() || !states.len().is_multiple_of(width) {
                bail!("states: {} bytes are not whole states of {} float32 values", states.len(), width / 4);
            }
            let rows = states.len() / width;
            // The buffers' sizes are checked against the adapter's limits; this product must
            // not wrap on the way there.
            if rows.checked_mul(n).and_then(|a| a.checked_mul(self.net.spec.dim)).is_none() {
                bail!("{rows} states × n = {n} actions do not fit in memory");
            }
            let mut states: Vec<f32> =
                states.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if let Some(bad) = states.iter().find(|v| !v.is_finite()) {
                bail!("states: {bad} is not finite");
            }
            if let Some(norm) = &self.normalization {
                norm.apply_to_observations(&mut states);
            }
            let act = |rng: &mut RngStream| {
                crate::commands::sample::sample_actions(&self.gpu, &self.net, &states, n, self.euler_steps, rng)
            };
            match seed {
                Some(seed) => act(&mut RngStream::new(seed, streams::POLICY_NOISE)),
                None => act(&mut self.noise.lock().unwrap_or_else(|e| e.into_inner())),
            }
        })?;
        let bytes: Vec<u8> = actions.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(PyBytes::new(py, &bytes))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("QipoError", m.py().get_type::<QipoError>())?;
    m.add_class::<Policy>()?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    Ok(())
}
