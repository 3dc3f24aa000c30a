//! The run directory: config and progress state written atomically and read back.

use qipo::rl::config::TrainConfig;
use qipo::run::{RunDir, RunState, Stage};

#[test]
fn a_run_directory_keeps_its_config_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs").join("hopper");
    let run = RunDir::create(&path).unwrap();
    assert!(run.checkpoint_dir().is_dir());
    assert_eq!(run.read_state().unwrap(), RunState::default());

    let mut config = TrainConfig::from_preset("smoke").unwrap();
    config.seed = 11;
    run.write_config(&config).unwrap();
    let opened = RunDir::open(&path).unwrap();
    assert_eq!(opened.read_config().unwrap(), config);

    let mut state = opened.read_state().unwrap();
    state.set_progress(Stage::Behaviour, 150);
    opened.write_state(&state).unwrap();
    let state = RunDir::open(&path).unwrap().read_state().unwrap();
    assert_eq!(state.resume_step(Stage::Behaviour), 150);
    assert_eq!(state.resume_step(Stage::Critic), 0);
    assert!(!state.is_completed(Stage::Behaviour));

    let names: Vec<_> =
        std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|name| !name.starts_with('.')), "temporary files left behind: {names:?}");
}

#[test]
fn stages_complete_and_a_finished_run_says_so() {
    let mut state = RunState::default();
    for stage in [Stage::Behaviour, Stage::Support, Stage::Critic, Stage::Policy] {
        state.set_progress(stage, 10);
        state.complete(stage);
        state.complete(stage);
        assert!(state.current.is_none());
    }
    assert_eq!(state.completed, [Stage::Behaviour, Stage::Support, Stage::Critic, Stage::Policy]);
    state.finish();
    assert!(state.finished);

    let text = serde_json::to_string(&state).unwrap();
    assert!(text.contains("\"behaviour\"") && text.contains("\"finished\":true"), "{text}");
    assert_eq!(serde_json::from_str::<RunState>(&text).unwrap(), state);
}

#[test]
fn an_existing_run_is_never_overwritten_and_a_missing_one_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run");
    let run = RunDir::create(&path).unwrap();
    run.write_config(&TrainConfig::default()).unwrap();
    // Once its writer is gone (a writer still there would be refused by the lock).
    drop(run);
    let message = RunDir::create(&path).unwrap_err().to_string();
    assert!(message.contains("already holds a run"), "{message}");

    let message = RunDir::open(dir.path().join("nothing")).unwrap_err().to_string();
    assert!(message.contains("nothing") && message.contains("does not exist"), "{message}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let message = RunDir::open(&empty).unwrap_err().to_string();
    assert!(message.contains("config.toml"), "{message}");
    // An empty folder can become a run.
    RunDir::create(&empty).unwrap();
}

#[test]
fn a_damaged_config_or_state_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path().join("run")).unwrap();
    std::fs::write(run.config_path(), "[policy]\nbeta = \"x\"\n").unwrap();
    let message = format!("{:#}", run.read_config().unwrap_err());
    assert!(message.contains("config.toml") && message.contains("line 2"), "{message}");
    std::fs::write(run.state_path(), "{\"completed\": [\"nope\"]").unwrap();
    let message = format!("{:#}", run.read_state().unwrap_err());
    assert!(message.contains("state.json"), "{message}");
}

#[test]
fn stage_names_match_the_files() {
    for stage in Stage::ALL {
        assert_eq!(Stage::from_name(stage.name()), Some(stage));
        assert_eq!(serde_json::to_string(&stage).unwrap(), format!("\"{stage}\""));
    }
    assert_eq!(Stage::from_name("warmup"), None);
}

#[test]
fn a_run_directory_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run");
    let run = RunDir::create(&path).unwrap();
    run.write_config(&TrainConfig::default()).unwrap();
    let mut second = RunDir::open(&path).unwrap();
    let message = second.lock().unwrap_err().to_string();
    assert!(message.contains("is in use") && message.contains("lock"), "{message}");
    // Reading the run needs no lock; once the writer is gone the lock is free.
    assert!(second.read_config().is_ok());
    drop(run);
    second.lock().unwrap();
}

#[test]
fn a_run_of_an_earlier_version_resumes_and_edited_settings_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run");
    let config = TrainConfig::from_preset("smoke").unwrap();
    let run = RunDir::create_for(&path, &config).unwrap();
    assert!(run.resume_state(&config).is_ok());

    // An earlier version knew fewer settings: its config.toml lacks one this version writes
    // (read back at its default), and its state recorded the checksum of that file.
    let full = std::fs::read_to_string(run.config_path()).unwrap();
    let earlier: String =
        full.lines().filter(|line| !line.starts_with("ref_max_score")).map(|l| format!("{l}\n")).collect();
    assert_ne!(earlier, full, "the settings name ref_max_score");
    std::fs::write(run.config_path(), &earlier).unwrap();
    let mut state = run.read_state().unwrap();
    state.config_checksum = Some(qipo::run::checksum(earlier.as_bytes()));
    run.write_state(&state).unwrap();
    let read = run.read_config().unwrap();
    assert_eq!(read, config, "the missing setting takes its default");
    assert!(run.resume_state(&read).is_ok(), "a run of an earlier version resumes");

    // Settings edited after the start are refused, naming the file.
    std::fs::write(run.config_path(), earlier.replace("seed = 0", "seed = 5")).unwrap();
    let message = run.resume_state(&read).unwrap_err().to_string();
    assert!(message.contains("config.toml") && message.contains("changed after the run started"), "{message}");
}
