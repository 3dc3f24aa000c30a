//! The Rust MuJoCo environments against gymnasium itself (tests/python/gym_rollout.py):
//! from the same state, the same actions give the same observations, rewards and episode
//! ends, for HalfCheetah, Hopper and Walker2d, v5 and v4.
#![cfg(feature = "mujoco")]

use std::io::Write as _;
use std::process::{Command, Stdio};

use qipo::data::Env;
use qipo::envs::locomotion::{Locomotion, MAX_EPISODE_STEPS};
use qipo::envs::{EnvSpec, GymVersion};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn python() -> String {
    std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn gym_rollout(env_id: &str, qpos: &[f64], qvel: &[f64], actions: &[Vec<f64>]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/gym_rollout.py");
    // MuJoCo's Python bindings log warnings into MUJOCO_LOG.TXT in the working directory.
    let mut child = Command::new(python())
        .arg(script)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (bash .ci/setup.sh installs gymnasium)");
    let request = json!({"env_id": env_id, "qpos": qpos, "qvel": qvel, "actions": actions});
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "gymnasium rollout failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

fn assert_close(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths differ");
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{what}[{k}]: ours {a}, gymnasium {b}");
    }
}

/// Rolls out `steps` random actions from a perturbed default pose in both implementations.
fn check(env: Env, version: GymVersion, gym_id: &str, steps: usize, seed: u64) {
    let spec = EnvSpec::Locomotion { env, version };
    let mut ours = Locomotion::new(spec).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let qpos: Vec<f64> = ours.qpos().iter().map(|q| q + rng.random_range(-0.05..0.05)).collect();
    let qvel: Vec<f64> = (0..ours.nv()).map(|_| rng.random_range(-0.5..0.5)).collect();
    let actions: Vec<Vec<f64>> =
        (0..steps).map(|_| (0..ours.act_dim()).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
    let theirs = gym_rollout(gym_id, &qpos, &qvel, &actions);

    ours.set_state(&qpos, &qvel).unwrap();
    assert_close(&format!("{gym_id} initial observation"), &ours.observation(), &floats(&theirs["initial"]));
    let their_steps = theirs["rewards"].as_array().unwrap().len();
    for (t, action) in actions.iter().enumerate().take(their_steps) {
        let step = ours.step(action).unwrap();
        assert_close(&format!("{gym_id} step {t} observation"), &step.observation, &floats(&theirs["obs"][t]));
        assert_close(&format!("{gym_id} step {t} reward"), &[step.reward], &[theirs["rewards"][t].as_f64().unwrap()]);
        assert_eq!(step.terminated, theirs["terminated"][t].as_bool().unwrap(), "{gym_id} step {t} terminated");
        assert_eq!(step.truncated, theirs["truncated"][t].as_bool().unwrap(), "{gym_id} step {t} truncated");
        if step.terminated || step.truncated {
            assert_eq!(t + 1, their_steps, "{gym_id}: the episode ended at step {t} here only");
            return;
        }
    }
    assert_eq!(their_steps, steps, "{gym_id}: gymnasium ended the episode after {their_steps} steps, we did not");
}

#[test]
fn halfcheetah_matches_gymnasium_to_the_time_limit() {
    // HalfCheetah never falls: the whole 1000 steps, ending in truncation.
    check(Env::HalfCheetah, GymVersion::V5, "HalfCheetah-v5", MAX_EPISODE_STEPS, 1);
    check(Env::HalfCheetah, GymVersion::V4, "HalfCheetah-v4", 200, 2);
}

#[test]
fn hopper_matches_gymnasium_until_it_falls() {
    check(Env::Hopper, GymVersion::V5, "Hopper-v5", 400, 3);
    check(Env::Hopper, GymVersion::V4, "Hopper-v4", 400, 4);
}

#[test]
fn walker2d_matches_gymnasium_until_it_falls() {
    check(Env::Walker2d, GymVersion::V5, "Walker2d-v5", 400, 5);
    check(Env::Walker2d, GymVersion::V4, "Walker2d-v4", 400, 6);
}

#[test]
fn resets_perturb_the_default_pose_as_gymnasium_does() {
    let spec = |env| EnvSpec::Locomotion { env, version: GymVersion::V5 };
    let mut hopper = Locomotion::new(spec(Env::Hopper)).unwrap();
    let pose: Vec<f64> = hopper.qpos().to_vec();
    let first = hopper.reset(11);
    assert_eq!(hopper.reset(11), first, "the same seed starts the same episode");
    assert_ne!(hopper.reset(12), first);
    for seed in 0..50 {
        hopper.reset(seed);
        let moved = hopper.qpos().iter().zip(&pose).map(|(q, p)| q - p).chain(hopper.qvel().iter().copied());
        assert!(moved.into_iter().all(|d| d.abs() <= 5e-3), "Hopper's reset noise is U(±0.005)");
    }

    // HalfCheetah: qpos + U(±0.1), qvel ~ 0.1·N(0, 1).
    let mut cheetah = Locomotion::new(spec(Env::HalfCheetah)).unwrap();
    let pose: Vec<f64> = cheetah.qpos().to_vec();
    let (mut velocities, mut max_offset) = (Vec::new(), 0.0f64);
    for seed in 0..300 {
        cheetah.reset(seed);
        max_offset = cheetah.qpos().iter().zip(&pose).map(|(q, p)| (q - p).abs()).fold(max_offset, f64::max);
        velocities.extend_from_slice(cheetah.qvel());
    }
    assert!(max_offset <= 0.1 && max_offset > 0.09, "largest qpos offset {max_offset}");
    let std = (velocities.iter().map(|v| v * v).sum::<f64>() / velocities.len() as f64).sqrt();
    assert!((std - 0.1).abs() < 0.01, "qvel std {std}, expected 0.1");
}
