//! The library shows the progress of a run only through the `Report` it is given: each
//! stage's steps and the final evaluation's episode steps, each task ended once.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use qipo::data::Dataset;
use qipo::report::{Progress, Report, Task, Unit};
use qipo::rl::presets::resolve;
use qipo::rl::train::train;
use qipo::run::RunDir;

/// What a task went through.
#[derive(Debug, Default)]
struct Seen {
    label: String,
    unit: Option<Unit>,
    total: u64,
    positions: Vec<u64>,
    notes: usize,
    ended: Vec<&'static str>,
}

#[derive(Default)]
struct Recorder {
    tasks: RefCell<Vec<Rc<RefCell<Seen>>>>,
}

struct RecordedTask(Rc<RefCell<Seen>>);

impl Report for Recorder {
    fn message(&self, _: &str) {}
    fn output(&self, _: &str) {}
    fn progress(&self, task: Task) -> Box<dyn Progress> {
        let seen = Seen {
            label: task.label,
            unit: Some(task.unit),
            total: task.total,
            positions: vec![task.done],
            ..Default::default()
        };
        let seen = Rc::new(RefCell::new(seen));
        self.tasks.borrow_mut().push(seen.clone());
        Box::new(RecordedTask(seen))
    }
}

impl Progress for RecordedTask {
    fn set_done(&self, done: u64) {
        self.0.borrow_mut().positions.push(done);
    }
    fn set_note(&self, _: &str) {
        self.0.borrow_mut().notes += 1;
    }
    fn finish(&self) {
        self.0.borrow_mut().ended.push("finished");
    }
    fn abandon(&self) {
        self.0.borrow_mut().ended.push("abandoned");
    }
}

#[test]
fn a_run_shows_its_progress_through_the_report() {
    let gpu = common::gpu();
    let overrides = [
        "behaviour.steps=12",
        "critic.steps=9",
        "policy.steps=8",
        "policy.renew_every=4",
        "run.log_every=4",
        "run.eval_episodes=1",
        "run.eval_env=hopper-v4",
    ];
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let config = resolve(Some("smoke"), None, &overrides).unwrap();
    let dataset = Dataset::load("data/hopper-medium-replay-v2.hdf5").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create_for(dir.path().join("run"), &config).unwrap();
    let recorder = Recorder::default();
    let summary = train(gpu, dataset, &run, &config, None, &recorder).unwrap();
    assert!(summary.eval.is_some(), "the run had an environment to evaluate in");

    let tasks = recorder.tasks.borrow();
    let labels: Vec<String> = tasks.iter().map(|t| t.borrow().label.clone()).collect();
    assert_eq!(labels, ["behaviour", "critic", "policy", "eval hopper-v4"], "{tasks:?}");
    for (task, total) in tasks.iter().zip([12, 9, 8]) {
        let task = task.borrow();
        assert_eq!((task.unit, task.total), (Some(Unit::Steps), total), "{task:?}");
        assert!(task.positions.windows(2).all(|w| w[0] <= w[1]), "{task:?}");
        assert_eq!(task.positions.first(), Some(&0), "{task:?}");
        assert_eq!(task.positions.last(), Some(&total), "{task:?}");
        assert!(task.notes > 0, "the metrics go with the progress: {task:?}");
        assert_eq!(task.ended, ["finished"], "{task:?}");
    }
    let eval = tasks[3].borrow();
    assert_eq!(eval.unit, Some(Unit::EpisodeSteps));
    let length = summary.eval.as_ref().unwrap().lengths[0] as u64;
    assert_eq!(eval.positions.last(), Some(&length), "one position per step of the episode: {eval:?}");
    assert_eq!(eval.ended, ["finished"]);
}

#[test]
fn a_run_stopped_by_its_budget_abandons_its_task() {
    let gpu = common::gpu();
    let overrides: Vec<String> =
        ["behaviour.steps=12", "run.log_every=4", "run.checkpoint_every=4"].iter().map(|s| s.to_string()).collect();
    let config = resolve(Some("smoke"), None, &overrides).unwrap();
    let dataset = Dataset::load("data/hopper-medium-replay-v2.hdf5").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create_for(dir.path().join("run"), &config).unwrap();
    let recorder = Recorder::default();
    let summary = train(gpu, dataset, &run, &config, Some(4), &recorder).unwrap();
    assert!(summary.stopped);
    let tasks = recorder.tasks.borrow();
    assert_eq!(tasks.len(), 1);
    let task = tasks[0].borrow();
    assert_eq!((task.label.as_str(), task.positions.last()), ("behaviour", Some(&4)), "{task:?}");
    assert_eq!(task.ended, ["abandoned"]);
}
