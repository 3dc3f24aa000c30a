//! HalfCheetah, Hopper and Walker2d in MuJoCo 3.17.0, with gymnasium's v5 (or v4)
//! semantics: the same model XML, frame skip, observation, reward, termination, reset noise
//! and 1000-step limit, so returns match gymnasium's for the same states and actions.

use std::sync::{Arc, Once};

use anyhow::{bail, ensure, Context as _, Result};
use mujoco_rs::prelude::{log_config, set_log_config, MjData, MjModel};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::spec::{EnvSpec, GymVersion};
use super::{StepOutcome, VecEnv};
use crate::data::Env;

/// The MuJoCo version the bindings were generated for.
const MUJOCO_VERSION: &str = "3.17.0";

/// gymnasium's TimeLimit for all three environments.
pub const MAX_EPISODE_STEPS: usize = 1000;

/// How the initial state is perturbed around the model's default pose.
#[derive(Clone, Copy, Debug)]
enum ResetNoise {
    /// qpos and qvel each plus U(-scale, scale).
    Uniform(f64),
    /// qpos plus U(-scale, scale), qvel plus scale·N(0, 1) (HalfCheetah).
    UniformPositionNormalVelocity(f64),
}

/// When an episode ends before the time limit.
#[derive(Clone, Copy, Debug)]
enum Health {
    /// Never (HalfCheetah).
    Always,
    /// Hopper: z > 0.7, |angle| < 0.2, and qpos[2:] and qvel within ±100.
    Hopper,
    /// Walker2d: 0.8 < z < 2, |angle| < 1.
    Walker2d,
}

/// Everything that distinguishes one environment from another.
#[derive(Clone, Copy, Debug)]
struct Task {
    xml: &'static str,
    frame_skip: usize,
    ctrl_cost_weight: f64,
    healthy_reward: f64,
    /// v4 pays the healthy reward on the step that falls too; v5 does not.
    healthy_reward_when_falling: bool,
    reset_noise: ResetNoise,
    health: Health,
    /// Hopper and Walker2d clip the velocities in the observation to ±10.
    clip_observed_velocity: bool,
}

impl Task {
    fn of(spec: EnvSpec) -> Result<Task> {
        let EnvSpec::Locomotion { env, version } = spec else { bail!("{spec} is not a MuJoCo locomotion task") };
        let v4 = version == GymVersion::V4;
        let legged = |xml, health| Task {
            xml,
            frame_skip: 4,
            ctrl_cost_weight: 1e-3,
            healthy_reward: 1.0,
            healthy_reward_when_falling: v4,
            reset_noise: ResetNoise::Uniform(5e-3),
            health,
            clip_observed_velocity: true,
        };
        Ok(match env {
            Env::HalfCheetah => Task {
                xml: include_str!("../../data/mujoco/half_cheetah.xml"),
                frame_skip: 5,
                ctrl_cost_weight: 0.1,
                healthy_reward: 0.0,
                healthy_reward_when_falling: false,
                reset_noise: ResetNoise::UniformPositionNormalVelocity(0.1),
                health: Health::Always,
                clip_observed_velocity: false,
            },
            Env::Hopper => legged(include_str!("../../data/mujoco/hopper.xml"), Health::Hopper),
            // v5 raised the friction of the left foot to match the right one.
            Env::Walker2d if v4 => legged(include_str!("../../data/mujoco/walker2d.xml"), Health::Walker2d),
            Env::Walker2d => legged(include_str!("../../data/mujoco/walker2d_v5.xml"), Health::Walker2d),
            Env::AntMaze => bail!("{spec} is not a MuJoCo locomotion task"),
        })
    }
}

/// MuJoCo's warnings go to stderr only, not also into a MUJOCO_LOG.TXT in the working directory.
fn quiet_log_file() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let config = log_config().with_logto_file(false);
        // SAFETY: called before this process creates any MuJoCo model, under a Once, and
        // qipo only uses MuJoCo from the thread that evaluates.
        unsafe { set_log_config(config) };
    });
}

/// Loads a task's model once; every copy of the environment shares it.
fn load_model(spec: EnvSpec, task: &Task) -> Result<Arc<MjModel>> {
    let linked = mujoco_rs::mujoco_version();
    ensure!(
        linked == MUJOCO_VERSION,
        "MuJoCo {linked} is linked but qipo's bindings need {MUJOCO_VERSION}: rerun `bash .ci/setup.sh` and rebuild"
    );
    quiet_log_file();
    let model =
        MjModel::from_xml_string(task.xml).map_err(|e| anyhow::anyhow!("{spec}: cannot load the model: {e}"))?;
    Ok(Arc::new(model))
}

/// One environment.
pub struct Locomotion {
    spec: EnvSpec,
    task: Task,
    data: MjData<Arc<MjModel>>,
    init_qpos: Vec<f64>,
    dt: f64,
    steps: usize,
    done: bool,
}

impl Locomotion {
    pub fn new(spec: EnvSpec) -> Result<Self> {
        let task = Task::of(spec)?;
        let model = load_model(spec, &task)?;
        Self::with_model(spec, task, model)
    }

    fn with_model(spec: EnvSpec, task: Task, model: Arc<MjModel>) -> Result<Self> {
        let init_qpos = model.qpos0().to_vec();
        let dt = model.ffi().opt.timestep * task.frame_skip as f64;
        let data = MjData::try_new(model).map_err(|e| anyhow::anyhow!("{spec}: cannot allocate MuJoCo data: {e}"))?;
        Ok(Self { spec, task, data, init_qpos, dt, steps: 0, done: true })
    }

    pub fn nq(&self) -> usize {
        self.data.qpos().len()
    }

    pub fn nv(&self) -> usize {
        self.data.qvel().len()
    }

    pub fn obs_dim(&self) -> usize {
        self.nq() - 1 + self.nv()
    }

    pub fn act_dim(&self) -> usize {
        self.data.ctrl().len()
    }

    /// Seconds of simulated time per step (the model's timestep × frame skip).
    pub fn dt(&self) -> f64 {
        self.dt
    }

    pub fn qpos(&self) -> &[f64] {
        self.data.qpos()
    }

    pub fn qvel(&self) -> &[f64] {
        self.data.qvel()
    }

    /// Starts an episode from the default pose plus the task's reset noise.
    pub fn reset(&mut self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (nq, nv) = (self.nq(), self.nv());
        let (qpos, qvel): (Vec<f64>, Vec<f64>) = match self.task.reset_noise {
            ResetNoise::Uniform(scale) => (
                self.init_qpos.iter().map(|q| q + rng.random_range(-scale..scale)).collect(),
                (0..nv).map(|_| rng.random_range(-scale..scale)).collect(),
            ),
            ResetNoise::UniformPositionNormalVelocity(scale) => (
                self.init_qpos.iter().map(|q| q + rng.random_range(-scale..scale)).collect(),
                (0..nv).map(|_| scale * rng.sample::<f64, _>(StandardNormal)).collect(),
            ),
        };
        debug_assert_eq!(qpos.len(), nq);
        self.set_state(&qpos, &qvel).expect("reset state has the model's sizes");
        self.observation()
    }

    /// Starts an episode from exactly this state (gymnasium's `set_state` after a reset).
    pub fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<()> {
        let (nq, nv) = (self.nq(), self.nv());
        ensure!(qpos.len() == nq && qvel.len() == nv, "{}: a state is {nq} qpos and {nv} qvel values", self.spec);
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(qpos);
        self.data.qvel_mut().copy_from_slice(qvel);
        self.data.forward();
        self.steps = 0;
        self.done = false;
        Ok(())
    }

    /// qpos without the x position, then qvel (clipped to ±10 for Hopper and Walker2d).
    pub fn observation(&self) -> Vec<f64> {
        let clip = self.task.clip_observed_velocity;
        let velocities = self.qvel().iter().map(|&v| if clip { v.clamp(-10.0, 10.0) } else { v });
        self.qpos()[1..].iter().copied().chain(velocities).collect()
    }

    fn is_healthy(&self) -> bool {
        let qpos = self.qpos();
        let (z, angle) = (qpos[1], qpos[2]);
        match self.task.health {
            Health::Always => true,
            Health::Hopper => {
                let state_ok = qpos[2..].iter().chain(self.qvel()).all(|&v| -100.0 < v && v < 100.0);
                state_ok && z > 0.7 && -0.2 < angle && angle < 0.2
            }
            Health::Walker2d => 0.8 < z && z < 2.0 && -1.0 < angle && angle < 1.0,
        }
    }

    /// Applies `action` for one environment step (frame_skip physics steps).
    pub fn step(&mut self, action: &[f64]) -> Result<StepOutcome> {
        ensure!(!self.done, "{}: step after the episode ended (reset first)", self.spec);
        ensure!(
            action.len() == self.act_dim(),
            "{}: an action has {} values, not {}",
            self.spec,
            self.act_dim(),
            action.len()
        );
        ensure!(action.iter().all(|a| a.is_finite()), "{}: the action {action:?} is not finite", self.spec);
        let x_before = self.qpos()[0];
        self.data.ctrl_mut().copy_from_slice(action);
        for _ in 0..self.task.frame_skip {
            self.data.step();
        }
        let x_velocity = (self.qpos()[0] - x_before) / self.dt;
        let healthy = self.is_healthy();
        let ctrl_cost = self.task.ctrl_cost_weight * action.iter().map(|a| a * a).sum::<f64>();
        let paid_health = healthy || self.task.healthy_reward_when_falling;
        let reward = x_velocity + if paid_health { self.task.healthy_reward } else { 0.0 } - ctrl_cost;
        self.steps += 1;
        let terminated = !healthy;
        let truncated = !terminated && self.steps >= MAX_EPISODE_STEPS;
        self.done = terminated || truncated;
        Ok(StepOutcome { observation: self.observation(), reward, terminated, truncated, success: false })
    }
}

/// `n` copies of one locomotion environment, sharing the model.
pub struct LocomotionVec {
    spec: EnvSpec,
    envs: Vec<Locomotion>,
    bounds: (Vec<f64>, Vec<f64>),
}

impl LocomotionVec {
    pub fn new(spec: EnvSpec, n: usize) -> Result<Self> {
        let task = Task::of(spec)?;
        let model = load_model(spec, &task)?;
        let bounds = model.actuator_ctrlrange().iter().map(|range| (range[0], range[1])).unzip();
        let envs = (0..n)
            .map(|_| Locomotion::with_model(spec, task, model.clone()))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("cannot create {n} copies of {spec}"))?;
        Ok(Self { spec, envs, bounds })
    }
}

impl LocomotionVec {
    /// Starts copy `i` from exactly this state; returns its observation.
    pub fn set_state(&mut self, i: usize, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>> {
        let env = self.envs.get_mut(i).with_context(|| format!("no environment {i}"))?;
        env.set_state(qpos, qvel)?;
        Ok(env.observation())
    }
}

impl VecEnv for LocomotionVec {
    fn spec(&self) -> EnvSpec {
        self.spec
    }

    fn len(&self) -> usize {
        self.envs.len()
    }

    fn obs_dim(&self) -> usize {
        self.envs.first().map_or(0, Locomotion::obs_dim)
    }

    fn act_dim(&self) -> usize {
        self.bounds.0.len()
    }

    fn action_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        self.bounds.clone()
    }

    fn max_steps(&self) -> usize {
        MAX_EPISODE_STEPS
    }

    fn reset(&mut self, seeds: &[u64]) -> Result<Vec<f64>> {
        ensure!(seeds.len() == self.envs.len(), "{} seeds for {} environments", seeds.len(), self.envs.len());
        Ok(self.envs.iter_mut().zip(seeds).flat_map(|(env, &seed)| env.reset(seed)).collect())
    }

    fn step(&mut self, which: &[usize], actions: &[f64]) -> Result<Vec<StepOutcome>> {
        let act = self.act_dim();
        ensure!(actions.len() == which.len() * act, "{} action values for {} environments", actions.len(), which.len());
        which
            .iter()
            .zip(actions.chunks(act))
            .map(|(&i, action)| {
                let env = self.envs.get_mut(i).with_context(|| format!("no environment {i}"))?;
                env.step(action)
            })
            .collect()
    }
}
