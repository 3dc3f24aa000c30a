//! Where the library's messages go. The library never prints: it hands its notes, its
//! results and the progress of long work to a [`Report`], which the command line implements
//! by printing them (`commands::Terminal`) and tests or embedders may collect or drop.

/// Receives what the library has to say.
pub trait Report {
    /// A note on what is happening (the command line writes it to stderr, one line).
    fn message(&self, text: &str);
    /// A result that was asked for, exactly as given (the command line writes it to stdout).
    fn output(&self, text: &str);
    /// Starts showing the progress of `task` (the command line draws a bar on stderr); by
    /// default nothing is shown.
    fn progress(&self, task: Task) -> Box<dyn Progress> {
        let _ = task;
        Box::new(NoProgress)
    }

    /// Whether whoever runs the library asks it to stop. Training polls this after every
    /// logged interval and stops, as at the end of its step budget, at the next point the run
    /// resumes from exactly (Python's Ctrl-C, which cannot interrupt Rust code itself).
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A piece of long work whose progress is shown as it goes.
pub struct Task {
    /// What is under way, such as a stage's name.
    pub label: String,
    /// How many units the work takes, and how many were done before it (re)started.
    pub total: u64,
    pub done: u64,
    pub unit: Unit,
}

/// What a task counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Optimisation steps: their rate and the time left are worth showing.
    Steps,
    /// Environment steps of episodes run side by side: shown while they run, then removed.
    EpisodeSteps,
}

/// The progress of one [`Task`], updated by the library as it works.
pub trait Progress {
    /// `done` units of the task are done.
    fn set_done(&self, done: u64);
    /// A short note on the latest results (a loss, episodes still running).
    fn set_note(&self, note: &str);
    /// The task is complete.
    fn finish(&self);
    /// The task stopped before its end (it will be resumed later).
    fn abandon(&self);
}

/// Drops everything.
pub struct Silent;

impl Report for Silent {
    fn message(&self, _: &str) {}
    fn output(&self, _: &str) {}
}

/// Shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_done(&self, _: u64) {}
    fn set_note(&self, _: &str) {}
    fn finish(&self) {}
    fn abandon(&self) {}
}
