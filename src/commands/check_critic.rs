//! `qipo check-critic`: does a run's critic rank actions the way the environment does?
//!
//! Policy improvement moves the policy toward the actions its critic rates highest among the
//! candidates at one state, so what decides whether improvement helps is not the critic's
//! mean error but whether its ranking of alternatives at the same state is right. This check
//! measures that against the physics: it restarts MuJoCo from dataset states (their
//! `infos/qpos` and `infos/qvel`), applies each candidate action once, continues with the
//! run's behaviour policy (the policy the critic evaluates) for `--horizon` steps, and
//! compares the discounted, normalised return with the critic's min(Q1, Q2), state by state:
//!   - near:   the dataset action and K Gaussian perturbations of it (std `--perturbation`),
//!     the choices improvement makes among the behaviour policy's own samples;
//!   - random: the dataset action and K uniformly random actions, choices far apart.
//!
//! The critic runs on the CPU twin of the MLP: a few thousand rows, once.
// Without MuJoCo only the statistics and the report remain; `run` says why it cannot check.
#![cfg_attr(not(feature = "mujoco"), allow(unused_imports, dead_code))]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use rand::seq::index::sample;
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::data::{arrays, Dataset};
#[cfg(feature = "mujoco")]
use crate::envs::locomotion::{LocomotionVec, MAX_EPISODE_STEPS};
use crate::envs::{EnvSpec, VecEnv};
use crate::eval::{FlowPolicy, Policy};
use crate::gpu::Gpu;
use crate::nn::MlpSpec;
use crate::reference::mlp;
use crate::report::{Report as _, Task, Unit};
use crate::rl::behaviour::BEHAVIOUR;
use crate::rl::evaluation::{check_eval_env_dims, env_of_dataset, run_eval_env};
use crate::rl::saved_policy::read_normalization;
use crate::rl::snapshot::load_velocity;
use crate::run::checkpoint::Checkpoint;
use crate::run::seeds::SeedsDir;
use crate::run::{RunDir, Stage};
use crate::stats::{mean, mean_stderr};

#[derive(clap::Args, Debug)]
pub struct CheckCriticArgs {
    /// A run directory of one seed whose critic has been trained.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The run's dataset, with `infos/qpos` and `infos/qvel` (make_dataset.py writes them).
    #[arg(long, value_name = "FILE")]
    pub dataset: PathBuf,
    /// Dataset states to check, drawn at random.
    #[arg(long, default_value_t = 100)]
    pub states: usize,
    /// Candidates of each kind (near and random) per state, besides the dataset action.
    #[arg(long, default_value_t = 8)]
    pub candidates: usize,
    /// Standard deviation of the near candidates' Gaussian perturbation.
    #[arg(long, default_value_t = 0.3)]
    pub perturbation: f64,
    /// Environment steps of each rollout: the candidate action, then the behaviour policy's.
    #[arg(long, default_value_t = 200)]
    pub horizon: usize,
    /// Rollouts per candidate (the behaviour policy is stochastic); with two or more, the
    /// report also gives how well two halves of them agree, the ceiling of any critic's score.
    #[arg(long, default_value_t = 2)]
    pub rollouts: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write every candidate (state, kind, critic Q, return) to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How the critic's ranking of one kind of candidates agrees with their returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankingAgreement {
    /// "near" or "random".
    pub candidates: String,
    /// Spearman's rank correlation between critic Q and return over the dataset action and
    /// the K candidates, averaged over states (1: the critic ranks them exactly right; 0: its
    /// ranking says nothing), and its standard error.
    pub spearman: f64,
    pub spearman_stderr: f64,
    /// Spearman's correlation between the mean returns of two halves of the rollouts, averaged
    /// over states: how far the returns themselves repeat (None with one rollout).
    pub return_repeatability: Option<f64>,
    /// The most a critic that knew the true values could score against the mean of all the
    /// rollouts: √(2r / (1 + r)) for the repeatability r (Spearman–Brown, then the square root
    /// of that reliability), 0 where r ≤ 0. Approximate: r is a mean over states.
    pub spearman_ceiling: Option<f64>,
    /// Return of the candidate the critic rates highest, minus the dataset action's: what
    /// following the critic's pick gains, on average over states.
    pub critic_pick_gain: f64,
    pub critic_pick_gain_stderr: f64,
    /// Share of states where the dataset action has the highest Q, and the highest return.
    pub data_first_by_critic: f64,
    pub data_first_by_return: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriticCheck {
    pub env: String,
    pub states: usize,
    pub candidates: usize,
    pub perturbation: f64,
    pub horizon: usize,
    pub rollouts: usize,
    pub gamma: f64,
    pub near: RankingAgreement,
    pub random: RankingAgreement,
}

/// One candidate action at one state.
struct Candidate {
    state: usize,
    kind: &'static str,
    action: Vec<f64>,
    q: f64,
    /// The discounted return of each rollout.
    returns: Vec<f64>,
}

impl Candidate {
    fn value(&self) -> f64 {
        mean(&self.returns)
    }

    /// The mean returns of the first and of the second half of the rollouts.
    fn halves(&self) -> (f64, f64) {
        let (a, b) = self.returns.split_at(self.returns.len().div_ceil(2));
        (mean(a), mean(b))
    }
}

/// Ranks from 0, ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation; 0 when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        0.0
    } else {
        cov / (vx * vy).sqrt()
    }
}

/// The best correlation with the mean of two halves whose own correlation is `r`.
fn ceiling(r: f64) -> f64 {
    if r <= 0.0 {
        0.0
    } else {
        (2.0 * r / (1.0 + r)).sqrt()
    }
}

fn argmax(values: &[f64]) -> usize {
    (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0)
}

/// The agreement over groups of candidates, each group's first member the dataset action.
fn agreement(name: &str, groups: &[Vec<&Candidate>]) -> RankingAgreement {
    let (mut rho, mut repeat, mut gain, mut critic_first, mut return_first) = (vec![], vec![], vec![], 0, 0);
    for group in groups {
        let q: Vec<f64> = group.iter().map(|c| c.q).collect();
        let value: Vec<f64> = group.iter().map(|c| c.value()).collect();
        rho.push(spearman(&q, &value));
        let (first, second): (Vec<f64>, Vec<f64>) = group.iter().map(|c| c.halves()).unzip();
        repeat.push(spearman(&first, &second));
        gain.push(value[argmax(&q)] - value[0]);
        critic_first += usize::from(argmax(&q) == 0);
        return_first += usize::from(argmax(&value) == 0);
    }
    let n = groups.len().max(1) as f64;
    let (spearman, spearman_stderr) = mean_stderr(&rho);
    let (critic_pick_gain, critic_pick_gain_stderr) = mean_stderr(&gain);
    let repeated = groups.first().and_then(|g| g.first()).is_some_and(|c| c.returns.len() >= 2);
    let return_repeatability = repeated.then(|| mean_stderr(&repeat).0);
    RankingAgreement {
        candidates: name.into(),
        spearman,
        spearman_stderr,
        return_repeatability,
        spearman_ceiling: return_repeatability.map(ceiling),
        critic_pick_gain,
        critic_pick_gain_stderr,
        data_first_by_critic: critic_first as f64 / n,
        data_first_by_return: return_first as f64 / n,
    }
}

/// The dataset's MuJoCo states, `infos/qpos` and `infos/qvel`, row by row.
fn read_mujoco_states(path: &Path, rows: usize) -> Result<(arrays::Matrix, arrays::Matrix)> {
    let file = hdf5::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let missing = || {
        format!(
            "{}: has no infos/qpos and infos/qvel: the check restarts MuJoCo from the dataset's states and needs them",
            path.display()
        )
    };
    let infos = file.group("infos").with_context(missing)?;
    let qpos = arrays::read_matrix(&infos, "qpos").with_context(missing)?;
    let qvel = arrays::read_matrix(&infos, "qvel").with_context(missing)?;
    ensure!(
        qpos.rows == rows && qvel.rows == rows,
        "{}: infos/qpos has {} rows and infos/qvel {}, but the dataset has {rows} transitions",
        path.display(),
        qpos.rows,
        qvel.rows
    );
    Ok((qpos, qvel))
}

/// The critic's min(Q1, Q2) for each (state, action) row.
fn critic_values(critic: &Checkpoint, inputs: &[f32], rows: usize) -> Result<Vec<f64>> {
    let spec: MlpSpec = critic.meta_json("q1.spec")?;
    let head = |name: &str| -> Result<Vec<f32>> {
        let params = critic.tensor(name, spec.param_count())?;
        let acts = mlp::forward(&spec, params, inputs, rows);
        Ok(acts.last().map(|a| a.1.clone()).unwrap_or_default())
    };
    let (q1, q2) = (head("q1.params")?, head("q2.params")?);
    Ok(q1.iter().zip(&q2).map(|(a, b)| f64::from(a.min(*b))).collect())
}

#[cfg(not(feature = "mujoco"))]
pub fn run(_gpu: &Gpu, _args: &CheckCriticArgs) -> Result<CriticCheck> {
    bail!("check-critic restarts MuJoCo: this qipo was built without it (the `mujoco` cargo feature)")
}

#[cfg(feature = "mujoco")]
pub fn run(gpu: &Gpu, args: &CheckCriticArgs) -> Result<CriticCheck> {
    ensure!(args.states > 0, "--states must be at least 1");
    ensure!(args.candidates > 0, "--candidates must be at least 1");
    ensure!(args.rollouts > 0, "--rollouts must be at least 1");
    ensure!(args.perturbation.is_finite() && args.perturbation >= 0.0, "--perturbation must be 0 or more");
    if SeedsDir::is_at(&args.run) {
        let seeds = SeedsDir::open(&args.run)?;
        bail!(
            "{} holds {} seeds, each a run of its own: name one, e.g. --run {}",
            args.run.display(),
            seeds.runs.len(),
            seeds.runs[0].path().display()
        );
    }
    let run = RunDir::open(&args.run)?;
    let config = run.read_config()?;
    let critic_path = run.checkpoint_path(Stage::Critic);
    ensure!(critic_path.exists(), "{}: the run has no trained critic yet", args.run.display());
    let critic = Checkpoint::load(&critic_path)?;
    let behaviour = load_velocity(&Checkpoint::load(&run.checkpoint_path(Stage::Behaviour))?, gpu, BEHAVIOUR)?;
    let normalization = read_normalization(&run)?;

    let spec = match run_eval_env(&config, &args.dataset)? {
        Some(spec) => spec,
        None => env_of_dataset(&args.dataset)
            .with_context(|| format!("{}: does not name its environment", args.dataset.display()))?,
    };
    if !matches!(spec, EnvSpec::Locomotion { .. }) {
        bail!("{spec}: the check restarts MuJoCo locomotion environments only");
    }
    ensure!((1..=MAX_EPISODE_STEPS).contains(&args.horizon), "--horizon must be within 1 and {MAX_EPISODE_STEPS}");
    let data = Dataset::load(&args.dataset)?;
    check_eval_env_dims(Some(spec), &data)?;
    let (qpos, qvel) = read_mujoco_states(&args.dataset, data.len())?;
    let states = args.states.min(data.len());

    // The candidates: per state, the dataset action, then K near and K random ones.
    let per_state = 1 + 2 * args.candidates;
    let mut env = LocomotionVec::new(spec, states * per_state * args.rollouts)?;
    let (low, high) = env.action_bounds();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let chosen = sample(&mut rng, data.len(), states).into_vec();
    let candidate = |state, kind, action| Candidate { state, kind, action, q: 0.0, returns: vec![0.0; args.rollouts] };
    let mut candidates = Vec::new();
    for (state, &row) in chosen.iter().enumerate() {
        let action: Vec<f64> = data.action(row).iter().map(|&a| f64::from(a)).collect();
        candidates.push(candidate(state, "data", action.clone()));
        for _ in 0..args.candidates {
            let near = (0..action.len())
                .map(|k| (action[k] + args.perturbation * rng.sample::<f64, _>(StandardNormal)).clamp(low[k], high[k]))
                .collect();
            candidates.push(candidate(state, "near", near));
        }
        for _ in 0..args.candidates {
            let random = (0..action.len()).map(|k| rng.random_range(low[k]..=high[k])).collect();
            candidates.push(candidate(state, "random", random));
        }
    }

    // The critic's Q, on the states as it saw them in training.
    let observation = |row: usize| -> Vec<f32> {
        let mut s = data.observation(row).to_vec();
        if let Some(n) = &normalization {
            n.apply_to_observations(&mut s);
        }
        s
    };
    let inputs: Vec<f32> = candidates
        .iter()
        .flat_map(|c| c.action.iter().map(|&a| a as f32).chain(observation(chosen[c.state])))
        .collect();
    let q = critic_values(&critic, &inputs, candidates.len())?;
    for (c, q) in candidates.iter_mut().zip(q) {
        c.q = q;
    }

    // The returns: each candidate once from its dataset state, then the behaviour policy.
    let gamma = config.critic.gamma;
    let reward = normalization.as_ref().map(|n| &n.reward);
    // Environment e runs rollout e / n of candidate e % n.
    let n = candidates.len();
    let mut observations = Vec::new();
    for e in 0..n * args.rollouts {
        let row = chosen[candidates[e % n].state];
        let to_f64 = |m: &arrays::Matrix| -> Vec<f64> {
            m.values[row * m.columns..(row + 1) * m.columns].iter().map(|&v| f64::from(v)).collect()
        };
        observations.push(env.set_state(e, &to_f64(&qpos), &to_f64(&qvel))?);
    }
    let mut observations: Vec<f64> = observations.concat();
    let obs_dim = env.obs_dim();
    let envs = n * args.rollouts;
    let euler_steps = config.support.euler_steps;
    let observation_normalization = normalization.as_ref().and_then(|n| n.observations.clone());
    let mut policy =
        FlowPolicy::new(gpu, &behaviour, envs, euler_steps, observation_normalization, args.seed, "behaviour")?;
    let mut live: Vec<usize> = (0..envs).collect();
    let mut discount = 1.0;
    let task = Task { label: "rollouts".into(), total: args.horizon as u64, done: 0, unit: Unit::EpisodeSteps };
    let bar = super::Terminal.progress(task);
    for step in 0..args.horizon {
        if live.is_empty() {
            break;
        }
        let mut actions: Vec<f64> = if step == 0 {
            (0..envs).flat_map(|e| candidates[e % n].action.iter().copied()).collect()
        } else {
            let batch: Vec<f64> =
                live.iter().flat_map(|&i| observations[i * obs_dim..(i + 1) * obs_dim].iter().copied()).collect();
            policy.act(&batch, live.len())?
        };
        for (k, a) in actions.iter_mut().enumerate() {
            *a = a.clamp(low[k % low.len()], high[k % low.len()]);
        }
        let outcomes = env.step(&live, &actions)?;
        let mut still_live = Vec::with_capacity(live.len());
        for (&e, outcome) in live.iter().zip(outcomes) {
            let r = reward.as_ref().map_or(outcome.reward as f32, |norm| norm.apply(outcome.reward as f32));
            candidates[e % n].returns[e / n] += discount * f64::from(r);
            observations[e * obs_dim..(e + 1) * obs_dim].copy_from_slice(&outcome.observation);
            if !outcome.terminated {
                still_live.push(e);
            }
        }
        live = still_live;
        discount *= gamma;
        bar.set_done(step as u64 + 1);
    }
    bar.finish();

    if let Some(path) = &args.out {
        let mut csv = String::from("state,dataset_row,kind,critic_q,return\n");
        for c in &candidates {
            writeln!(csv, "{},{},{},{},{}", c.state, chosen[c.state], c.kind, c.q, c.value())?;
        }
        std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let group = |kind: &str| -> Vec<Vec<&Candidate>> {
        candidates
            .chunks(per_state)
            .map(|c| c.iter().filter(|c| c.kind == "data" || c.kind == kind).collect())
            .collect()
    };
    Ok(CriticCheck {
        env: spec.to_string(),
        states,
        candidates: args.candidates,
        perturbation: args.perturbation,
        horizon: args.horizon,
        rollouts: args.rollouts,
        gamma,
        near: agreement("near", &group("near")),
        random: agreement("random", &group("random")),
    })
}

/// The check as a short table.
pub fn render(check: &CriticCheck) -> String {
    let mut out = format!(
        "critic ranking against {} returns: {} states, the dataset action and {} candidates of each kind, {} steps, {} rollouts each, gamma {}\n",
        check.env, check.states, check.candidates, check.horizon, check.rollouts, check.gamma
    );
    out += "candidates                  Spearman(Q, return)   ceiling (repeatability)   return of the critic's pick - data's   data first by Q / by return\n";
    for (a, label) in
        [(&check.near, format!("near (std {})", check.perturbation)), (&check.random, "random (uniform)".to_string())]
    {
        let _ = writeln!(
            out,
            "{label:<27} {:>7.3} ± {:<11.3} {:>16} {:>16.3} ± {:<22.3} {:.2} / {:.2}",
            a.spearman,
            a.spearman_stderr,
            match (a.spearman_ceiling, a.return_repeatability) {
                (Some(c), Some(r)) => format!("{c:.3} ({r:.3})"),
                _ => "-".to_string(),
            },
            a.critic_pick_gain,
            a.critic_pick_gain_stderr,
            a.data_first_by_critic,
            a.data_first_by_return
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_known_orders() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Monotone but not linear: still exactly 1.
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 8.0, 27.0]) - 1.0).abs() < 1e-12);
        // d = (0, -1, 1, 0): 1 - 6·2 / (4·15) = 0.8.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn the_ceiling_of_halves_that_agree_by_a_third_is_a_half_reliability_root() {
        // r = 1/3: the mean of both halves has reliability 2r / (1 + r) = 1/2.
        assert!((ceiling(1.0 / 3.0) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(ceiling(-0.2), 0.0);
    }

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![2.5, 0.0, 2.5, 1.0]);
    }

    #[test]
    fn agreement_scores_the_critics_pick_against_the_dataset_action() {
        let c = |kind, q, value| Candidate { state: 0, kind, action: vec![], q, returns: vec![value] };
        let group = [c("data", 1.0, 5.0), c("near", 3.0, 2.0), c("near", 2.0, 9.0)];
        let refs: Vec<&Candidate> = group.iter().collect();
        let a = agreement("near", &[refs]);
        // The critic picks the second candidate, whose return is 3 below the data's.
        assert!((a.critic_pick_gain + 3.0).abs() < 1e-12);
        assert_eq!((a.data_first_by_critic, a.data_first_by_return), (0.0, 0.0));
        assert!((a.spearman + 0.5).abs() < 1e-12);
        assert_eq!(a.return_repeatability, None, "one rollout has no halves to compare");
    }

    #[test]
    fn repeatability_compares_the_halves_of_the_rollouts() {
        let c = |kind, returns: Vec<f64>| Candidate { state: 0, kind, action: vec![], q: 0.0, returns };
        // The halves order the three candidates the same way, then the opposite way.
        let agree = [c("data", vec![1.0, 1.0]), c("near", vec![2.0, 5.0]), c("near", vec![3.0, 9.0])];
        let oppose = [c("data", vec![1.0, 3.0]), c("near", vec![2.0, 2.0]), c("near", vec![3.0, 1.0])];
        let a = agreement("near", &[agree.iter().collect()]);
        assert_eq!(a.return_repeatability, Some(1.0));
        assert_eq!(a.spearman_ceiling, Some(1.0));
        let b = agreement("near", &[oppose.iter().collect()]);
        assert_eq!(b.return_repeatability, Some(-1.0));
        assert_eq!(b.spearman_ceiling, Some(0.0));
        assert!((agree[2].value() - 6.0).abs() < 1e-12);
    }
}
