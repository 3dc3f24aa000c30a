//! OGBench's single-task environments through qipo's `ogbench` subprocess: a scripted rollout
//! gives the observations, rewards, ends and success of `ogbench`'s own environment, step for
//! step (tests/python/ogbench_rollout.py), in a locomotion maze of each robot and in cube.

use std::io::Write as _;
use std::process::{Command, Stdio};

use qipo::envs::{self, EnvSpec};
use serde_json::{json, Value};

/// Actions in [-1, 1] that change every step, the same for every run.
fn scripted_actions(steps: usize, act_dim: usize) -> Vec<Vec<f64>> {
    (0..steps).map(|t| (0..act_dim).map(|i| ((t * 7 + i * 3) as f64 * 0.37).sin()).collect()).collect()
}

/// What `ogbench` itself gives for the same seeds and actions.
fn reference(env: &str, seeds: &[u64], actions: &[Vec<f64>]) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ogbench_rollout.py");
    let python = std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(python)
        .arg(script)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let request = json!({ "env": env, "seeds": seeds, "actions": actions });
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().clone()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

/// Steps qipo's environment with the scripted actions and compares every step with ogbench's.
fn assert_parity(name: &str, seeds: &[u64], steps: usize) {
    let spec: EnvSpec = name.parse().unwrap();
    let mut env =
        envs::make(spec, seeds.len()).expect("the OGBench server starts (bash .ci/setup.sh installs ogbench)");
    let (obs_dim, act_dim) = (env.obs_dim(), env.act_dim());
    assert_eq!((obs_dim, act_dim), spec.dims(), "{name}: the widths qipo checks runs against");
    let actions = scripted_actions(steps, act_dim);
    let expected = reference(&spec.to_string(), seeds, &actions);

    let initial = env.reset(seeds).unwrap();
    for (k, episode) in expected.iter().enumerate() {
        assert_eq!(initial[k * obs_dim..(k + 1) * obs_dim], floats(&episode["initial"]), "{name} reset {k}");
    }
    let mut live: Vec<usize> = (0..seeds.len()).collect();
    for (t, action) in actions.iter().enumerate() {
        if live.is_empty() {
            break;
        }
        let batch: Vec<f64> = live.iter().flat_map(|_| action.iter().copied()).collect();
        let outcomes = env.step(&live, &batch).unwrap();
        let mut still = Vec::new();
        for (&k, outcome) in live.iter().zip(&outcomes) {
            let want = &expected[k]["steps"][t];
            let at = format!("{name}, episode {k}, step {t}");
            assert_eq!(outcome.observation, floats(&want["obs"]), "{at}: observation");
            assert_eq!(outcome.reward, want["reward"].as_f64().unwrap(), "{at}: reward");
            assert_eq!(outcome.terminated, want["terminated"], "{at}: terminated");
            assert_eq!(outcome.truncated, want["truncated"], "{at}: truncated");
            assert_eq!(outcome.success, want["success"], "{at}: success");
            if !(outcome.terminated || outcome.truncated) {
                still.push(k);
            }
        }
        live = still;
    }
    for (k, episode) in expected.iter().enumerate() {
        assert!(episode["steps"].as_array().unwrap().len() <= steps, "{name} episode {k}");
    }
}

#[test]
fn antmaze_steps_as_ogbench() {
    assert_parity("antmaze-medium-navigate-singletask-task1-v0", &[3, 4], 40);
}

#[test]
fn humanoidmaze_steps_as_ogbench() {
    assert_parity("humanoidmaze-medium-navigate-singletask-task2-v0", &[5], 30);
}

#[test]
fn cube_steps_as_ogbench() {
    assert_parity("cube-single-play-singletask-task1-v0", &[6], 30);
}

#[test]
fn rewards_are_ogbenchs_single_task_rewards() {
    // Before the goal, every step of a maze costs 1 and a cube task costs 1 per unsolved cube.
    let mut env = envs::make("antmaze-medium-singletask-v0".parse().unwrap(), 1).unwrap();
    let first = env.reset(&[0]).unwrap();
    assert_eq!(env.reset(&[0]).unwrap(), first, "an episode is a function of its seed");
    assert_ne!(env.reset(&[1]).unwrap()[..2], first[..2], "another seed, another start");
    env.reset(&[0]).unwrap();
    let step = &env.step(&[0], &[0.0; 8]).unwrap()[0];
    assert_eq!((step.reward, step.success, step.terminated), (-1.0, false, false));
    assert_eq!(env.max_steps(), 1000);
}

#[test]
fn a_task_ogbench_does_not_know_is_a_one_line_error() {
    let spec: EnvSpec = "antmaze-medium-singletask-task9-v0".parse().unwrap();
    let message = format!("{:#}", envs::make(spec, 1).err().expect("no task 9"));
    assert!(message.contains("does not know the task 'antmaze-medium-singletask-task9-v0'"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}
