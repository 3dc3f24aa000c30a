//! AntMaze through the gymnasium-robotics subprocess: D4RL's observation layout and frame
//! (the ant starts near the origin), its goal and success rule, determinism per seed, and
//! clean errors.

use qipo::envs::{self, EnvSpec, Maze, VecEnv};

fn umaze(n: usize) -> Box<dyn VecEnv> {
    envs::make(EnvSpec::AntMaze { maze: Maze::Umaze }, n)
        .expect("AntMaze starts (bash .ci/setup.sh installs gymnasium-robotics)")
}

#[test]
fn observations_are_d4rls_and_start_at_the_origin() {
    let mut env = umaze(3);
    assert_eq!((env.obs_dim(), env.act_dim(), env.max_steps()), (29, 8, 700));
    let (low, high) = env.action_bounds();
    assert!(low.iter().all(|&l| l == -1.0) && high.iter().all(|&h| h == 1.0));
    let obs = env.reset(&[1, 2, 3]).unwrap();
    assert_eq!(obs.len(), 3 * 29);
    for row in obs.chunks(29) {
        // D4RL measures x, y from the start cell's centre, and perturbs the start by U(±0.1).
        assert!(row[0].abs() <= 0.1 && row[1].abs() <= 0.1, "start at ({}, {})", row[0], row[1]);
        assert!(row[2] > 0.3 && row[2] < 1.5, "torso height {}", row[2]);
    }
    let steps = env.step(&[0, 2], &[0.0; 16]).unwrap();
    assert_eq!(steps.len(), 2);
    for step in &steps {
        assert_eq!(step.observation.len(), 29);
        assert_eq!(step.reward, 0.0, "the goal is 8 m away");
        assert!(!step.terminated && !step.truncated && !step.success);
    }
}

#[test]
fn the_same_seed_starts_the_same_episode() {
    let mut a = umaze(2);
    let mut b = umaze(2);
    assert_eq!(a.reset(&[7, 8]).unwrap(), b.reset(&[7, 8]).unwrap());
    let reset = a.reset(&[7, 9]).unwrap();
    let (first, second) = reset.split_at(29);
    let again = b.reset(&[7, 8]).unwrap();
    assert_eq!(first, &again[..29]);
    assert_ne!(second, &again[29..]);
}

#[test]
fn bad_requests_are_errors() {
    let mut env = umaze(1);
    env.reset(&[0]).unwrap();
    let err = env.step(&[5], &[0.0; 8]).unwrap_err().to_string();
    assert!(err.contains("no AntMaze environment 5"), "{err}");
    assert!(env.step(&[0], &[0.0; 3]).is_err());
}

#[test]
fn reaching_the_goal_ends_the_episode_with_reward_one() {
    // The server's episode logic on its own (tests/python/antmaze_goal.py): D4RL's goal
    // noise keeps the goal within [0, 1.5] m of the goal cell's corner, and an ant placed
    // within 0.5 m of it succeeds, earning 1 and ending the episode.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/antmaze_goal.py");
    let python = std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(python)
        .arg(script)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("ok"), "{stdout}");
}
