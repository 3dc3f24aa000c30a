//! Crash safety of a run directory: a run killed at any instant resumes to exactly the
//! uninterrupted run, and what resume must not trust (edited settings, damaged checkpoints, a
//! state that does not match its checkpoints) is refused with a one-line error naming the file.
//!
//! The runs are tiny (256 transitions, 20 steps a stage) so that the kill at every rename and
//! fsync, injected by strace where it is installed, takes a few minutes on lavapipe.

mod cli_support;
mod data_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli_support::{fails, metrics_without_timings as metrics, ok, qipo, scratch};
use data_support::{write_d4rl, D4rlLayout, Steps};
use qipo::run::Checkpoint;
use serde_json::Value;

/// The smoke preset at its smallest: every stage, two checkpoints each.
const TINY: [&str; 14] = [
    "--preset",
    "smoke",
    "--set",
    "behaviour.steps=20",
    "--set",
    "critic.steps=20",
    "--set",
    "policy.steps=20",
    "--set",
    "policy.renew_every=10",
    "--set",
    "run.log_every=10",
    "--set",
    "run.checkpoint_every=10",
];

/// The first 256 transitions of the shipped dataset, under its name (which names the
/// environment of the final evaluation), in a folder of its own.
fn tiny_dataset(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hopper-medium-replay-v2.hdf5");
    data_support::write_shipped_head(&path, 256);
    path
}

fn train_args<'a>(dataset: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--dataset", dataset.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(&TINY);
    args.extend_from_slice(extra);
    args
}

fn train(dataset: &Path, out: &Path, extra: &[&str]) -> Output {
    qipo(&train_args(dataset, out, extra))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `eval.json` without its timings (none in a build without MuJoCo).
fn evaluation(run: &Path) -> Option<Value> {
    let path = run.join("eval.json");
    let mut report = path.exists().then(|| read_json(&path))?;
    let fields = report.as_object_mut().unwrap();
    fields.retain(|key, _| !matches!(key.as_str(), "seconds" | "env_steps_per_s"));
    Some(report)
}

/// Asserts that `run` ended exactly as `reference`: metrics, state, evaluation, and every
/// checkpoint's tensors (bit for bit) and metadata.
fn assert_same_run(what: &str, run: &Path, reference: &Path) {
    assert_eq!(metrics(run), metrics(reference), "{what}: metrics");
    assert_eq!(read_json(&run.join("state.json")), read_json(&reference.join("state.json")), "{what}: state");
    assert_eq!(evaluation(run), evaluation(reference), "{what}: eval.json");
    for stage in ["behaviour", "critic", "policy"] {
        let path = |dir: &Path| dir.join("checkpoints").join(format!("{stage}.safetensors"));
        let (got, want) = (Checkpoint::load(&path(run)).unwrap(), Checkpoint::load(&path(reference)).unwrap());
        assert_eq!(got.meta, want.meta, "{what}: {stage} checkpoint metadata");
        assert_eq!(got.tensors.len(), want.tensors.len(), "{what}: {stage} checkpoint tensors");
        for (name, (shape, values)) in &want.tensors {
            let (got_shape, got_values) = &got.tensors[name];
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!((got_shape, bits(got_values)), (shape, bits(values)), "{what}: {stage} tensor {name}");
        }
    }
}

/// The hidden files a crashed write may leave: there must be none once a run has ended.
fn temporaries(run: &Path) -> Vec<String> {
    [run.to_path_buf(), run.join("checkpoints")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

#[test]
fn a_kill_between_a_checkpoint_and_the_state_resumes_exactly() {
    let dataset = tiny_dataset("gap-data");
    let whole = scratch("gap-whole");
    ok(train(&dataset, &whole, &[]));

    // Behaviour step 10 saved, then step 20 (the stage done), with state.json put back to
    // step 10: what a kill between the checkpoint's rename and state.json's leaves.
    let parts = scratch("gap-parts");
    ok(train(&dataset, &parts, &["--stop-after", "10"]));
    let older = std::fs::read(parts.join("state.json")).unwrap();
    ok(train(&dataset, &parts, &["--stop-after", "10"]));
    std::fs::write(parts.join("state.json"), older).unwrap();
    ok(train(&dataset, &parts, &[]));
    assert_same_run("resumed after the gap", &parts, &whole);
}

#[test]
fn a_step_past_the_stage_total_or_a_state_ahead_of_its_checkpoint_is_refused() {
    let dataset = tiny_dataset("past-data");
    let out = scratch("past");
    ok(train(&dataset, &out, &["--stop-after", "10"]));
    let state_path = out.join("state.json");
    let saved = read_json(&state_path);

    let mut past = saved.clone();
    past["current"]["step"] = 500.into();
    std::fs::write(&state_path, past.to_string()).unwrap();
    let error = fails(train(&dataset, &out, &[]));
    assert!(error.contains("state.json") && error.contains("past the stage's 20 steps"), "{error}");

    let mut ahead = saved.clone();
    ahead["current"]["step"] = 20.into();
    std::fs::write(&state_path, ahead.to_string()).unwrap();
    let error = fails(train(&dataset, &out, &[]));
    assert!(error.contains("state.json") && error.contains("holds step 10"), "{error}");
}

/// The one line of a failed run's error (its stderr may start with the run's banner).
fn error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0]
}

/// Whether strace can inject faults here (installed, and allowed to trace).
fn strace_works() -> bool {
    Command::new("strace").args(["-f", "-o", "/dev/null", "true"]).output().is_ok_and(|out| out.status.success())
}

/// Says why a fault-injection test did not run. In CI, where `.ci/setup.sh` installs strace, a
/// missing strace fails the test instead of letting it pass unseen; a sandbox that forbids
/// tracing is only reported.
fn skip_without_strace() {
    let installed = Command::new("strace").arg("-V").output().is_ok_and(|out| out.status.success());
    assert!(installed || std::env::var_os("CI").is_none(), "strace is not installed, and CI must run these tests");
    eprintln!("skipped: strace is not installed or cannot trace here");
}

/// Runs `qipo args` under strace, killed by SIGKILL at the `nth` call of `syscall`; whether
/// the kill happened (else the run had fewer such calls and finished).
fn killed_at(syscall: &str, nth: usize, args: &[&str]) -> bool {
    let inject = format!("inject={syscall}:signal=KILL:when={nth}");
    let output = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", &format!("trace={syscall}"), "-e", &inject])
        .arg(env!("CARGO_BIN_EXE_qipo"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    if output.status.success() {
        return false;
    }
    // strace ends with the signal that ended the traced process.
    use std::os::unix::process::ExitStatusExt;
    let status = output.status;
    assert!(
        status.signal() == Some(9) || status.code() == Some(128 + 9),
        "{syscall} #{nth}: expected a kill, got {status}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

#[test]
fn a_kill_at_any_rename_or_fsync_resumes_to_the_uninterrupted_run() {
    if !strace_works() {
        skip_without_strace();
        return;
    }
    let dataset = tiny_dataset("kill-data");
    let whole = scratch("kill-whole");
    ok(train(&dataset, &whole, &[]));
    for syscall in ["rename", "fsync"] {
        let mut nth = 1;
        loop {
            let out = scratch(&format!("kill-{syscall}-{nth}"));
            let args = train_args(&dataset, &out, &[]);
            if !killed_at(syscall, nth, &args) {
                break;
            }
            // The same command again continues the run it started.
            ok(qipo(&args));
            assert_same_run(&format!("killed at {syscall} #{nth}"), &out, &whole);
            assert_eq!(temporaries(&out), Vec::<String>::new(), "killed at {syscall} #{nth}: temporary files");
            std::fs::remove_dir_all(&out).unwrap();
            nth += 1;
        }
        assert!(nth > 10, "only {} {syscall} calls in a whole run", nth - 1);
    }
}

/// A child process that a failing test does not leave running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn a_second_process_is_refused_while_the_first_trains_and_a_killed_one_blocks_nothing() {
    let dataset = tiny_dataset("lock-data");
    let out = scratch("lock");
    // Long enough to be still training when the second process comes.
    let args = train_args(&dataset, &out, &["--set", "behaviour.steps=1000000"]);
    let mut first = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_qipo"))
            .args(&args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    while !out.join("metrics.jsonl").exists() {
        assert!(started.elapsed().as_secs() < 300, "the first run did not start training");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let once = [&args[..], &["--stop-after", "10"]].concat();
    for second in
        [once.clone(), vec!["train", "--dataset", dataset.to_str().unwrap(), "--resume", out.to_str().unwrap()]]
    {
        let stderr = fails(qipo(&second));
        let error = error_line(&stderr);
        assert!(error.contains("is in use") && error.contains("lock"), "{error}");
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    // The lock ended with the killed process: the same command continues its run.
    ok(qipo(&once));
}

#[test]
fn edited_settings_or_a_damaged_checkpoint_are_refused_on_resume() {
    let dataset = tiny_dataset("tamper-data");
    let out = scratch("tamper");
    ok(train(&dataset, &out, &["--stop-after", "10"]));
    let resume = ["train", "--dataset", dataset.to_str().unwrap(), "--resume", out.to_str().unwrap()];

    let config = out.join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, original.replacen("lr = 0.001", "lr = 0.002", 1)).unwrap();
    let stderr = fails(qipo(&resume));
    let error = error_line(&stderr);
    assert!(error.contains("config.toml") && error.contains("changed"), "{error}");
    std::fs::write(&config, original).unwrap();

    // A mantissa bit of a weight (the tensors' data ends the file).
    let checkpoint = out.join("checkpoints").join("behaviour.safetensors");
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&checkpoint, bytes).unwrap();
    let stderr = fails(qipo(&resume));
    let error = error_line(&stderr);
    assert!(error.contains("behaviour.safetensors") && error.contains("corrupted"), "{error}");
}

#[test]
fn an_oversized_network_is_a_clear_error_that_leaves_no_run_directory() {
    let dataset = tiny_dataset("huge-data");
    for (hidden, setting) in [("[100000,100000]", "policy_net"), ("[10000000000,10000000000]", "critic_net")] {
        let out = scratch("huge");
        let set = format!("{setting}.hidden={hidden}");
        let stderr = fails(train(&dataset, &out, &["--set", &set]));
        let error = error_line(&stderr);
        assert!(error.contains(setting) && error.contains("too large"), "{error}");
        assert!(!out.exists(), "a refused start must not leave a run directory");
    }
}

#[test]
fn an_evaluation_environment_of_other_dimensions_is_refused_before_training() {
    // 17-d states and 6-d actions (HalfCheetah's shape) under a name that says nothing.
    let dir = scratch("env-dims-data");
    std::fs::create_dir_all(&dir).unwrap();
    let dataset = dir.join("mine.hdf5");
    let rows = 64;
    let value = |i: usize| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5;
    let steps = Steps {
        obs_dim: 17,
        act_dim: 6,
        observations: (0..rows * 17).map(value).collect(),
        next_observations: (0..rows * 17).map(|i| value(i + 17)).collect(),
        actions: (0..rows * 6).map(value).collect(),
        rewards: (0..rows).map(value).collect(),
        terminals: vec![false; rows],
        timeouts: (0..rows).map(|i| i % 16 == 15).collect(),
    };
    write_d4rl(&dataset, &steps, D4rlLayout::V2);
    let out = scratch("env-dims");
    let stderr = fails(train(&dataset, &out, &["--set", "run.eval_env=hopper"]));
    let error = error_line(&stderr);
    assert!(error.contains("mine.hdf5") && error.contains("11-d observations and 3-d actions"), "{error}");
    assert!(!out.exists(), "a refused start must not leave a run directory");
}

/// The widths the start-up check uses are the MuJoCo environments' own.
#[cfg(feature = "mujoco")]
#[test]
fn the_known_dimensions_of_the_locomotion_environments_are_theirs() {
    use qipo::envs::EnvSpec;
    for name in ["halfcheetah", "hopper", "walker2d", "hopper-v4", "walker2d-v4"] {
        let spec: EnvSpec = name.parse().unwrap();
        let env = qipo::envs::make(spec, 1).unwrap();
        assert_eq!(spec.dims(), (env.obs_dim(), env.act_dim()), "{name}");
    }
}

/// The file descriptors of the writes of `qipo args`'s main thread, in order: strace counts
/// each thread's calls on its own, so these are the writes `when=N` picks.
fn write_fds(args: &[&str], trace: &Path) -> Vec<i32> {
    let output = Command::new("strace")
        .args(["-f", "-o", trace.to_str().unwrap(), "-e", "trace=execve,write"])
        .arg(env!("CARGO_BIN_EXE_qipo"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(trace).unwrap();
    // The main thread is the one that started the program (other threads may end first).
    let execve = text.lines().find(|line| line.contains(" execve(")).unwrap();
    let main = execve.split_whitespace().next().unwrap().to_string();
    // Lines read "PID  write(FD, ...": strace pads the PID.
    text.lines()
        .filter_map(|line| line.split_once(' ').filter(|(pid, _)| *pid == main))
        .filter_map(|(_, call)| call.trim_start().strip_prefix("write("))
        .map(|call| call.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_full_disk_at_any_write_is_a_one_line_error_and_the_run_then_resumes_exactly() {
    if !strace_works() {
        skip_without_strace();
        return;
    }
    let dataset = tiny_dataset("full-data");
    let whole = scratch("full-whole");
    ok(train(&dataset, &whole, &[]));
    let traced = scratch("full-traced");
    let fds = write_fds(&train_args(&dataset, &traced, &[]), &scratch("full-trace.txt"));
    let mut failed = 0;
    // Writes to stdout and stderr are the terminal's, not the run directory's disk.
    for nth in (1..=fds.len()).filter(|&n| fds[n - 1] > 2) {
        let out = scratch(&format!("full-{nth}"));
        let args = train_args(&dataset, &out, &[]);
        let output = Command::new("strace")
            .args(["-f", "-o", "/dev/null", "-e", "trace=write", "-e"])
            .arg(format!("inject=write:error=ENOSPC:when={nth}"))
            .arg(env!("CARGO_BIN_EXE_qipo"))
            .args(&args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "write #{nth}: {stderr}");
            let error = error_line(&stderr);
            assert!(error.contains("No space left on device"), "write #{nth}: {error}");
            failed += 1;
        }
        // Once there is room again, the same command continues the run.
        ok(qipo(&args));
        assert_same_run(&format!("disk full at write #{nth}"), &out, &whole);
        assert_eq!(temporaries(&out), Vec::<String>::new(), "disk full at write #{nth}: temporary files");
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert!(failed > 10, "only {failed} failed writes");
}

#[test]
fn a_multi_seed_directory_loses_the_temporaries_of_cut_short_writes_when_continued() {
    let dataset = tiny_dataset("seeds-tmp-data");
    let out = scratch("seeds-tmp");
    let args = train_args(&dataset, &out, &["--seeds", "2", "--stop-after", "10"]);
    ok(qipo(&args));
    let planted =
        [out.join(".seeds.json.tmp-4242"), out.join("seed1").join("checkpoints").join(".critic.safetensors.tmp-4242")];
    for path in &planted {
        std::fs::write(path, b"half a file").unwrap();
    }
    ok(qipo(&args));
    for path in &planted {
        assert!(!path.exists(), "{} is left", path.display());
    }
}

#[test]
fn a_multi_seed_run_killed_at_its_first_renames_resumes_to_the_uninterrupted_run() {
    if !strace_works() {
        skip_without_strace();
        return;
    }
    let dataset = tiny_dataset("seeds-kill-data");
    let whole = scratch("seeds-kill-whole");
    let two = ["--seeds", "2"];
    ok(train(&dataset, &whole, &two));
    // Each seed's config and state, seeds.json, the normalisations, then the seeds'
    // checkpoints one after the other (a kill between two leaves one seed a save ahead) and
    // their states, through the behaviour stage's end.
    for nth in 1..=16 {
        let out = scratch(&format!("seeds-kill-{nth}"));
        let args = train_args(&dataset, &out, &two);
        assert!(killed_at("rename", nth, &args), "rename #{nth} happens");
        ok(qipo(&args));
        for seed in ["seed0", "seed1"] {
            assert_same_run(&format!("killed at rename #{nth}, {seed}"), &out.join(seed), &whole.join(seed));
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
