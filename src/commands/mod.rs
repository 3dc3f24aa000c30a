//! The subcommands of the `qipo` program that are not tied to one module.

pub mod check_critic;
pub mod compare;
pub mod dataset;
pub mod eval;
pub mod info;
pub mod sample;
pub mod sweep;
pub mod toy;
pub mod train;

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{Progress, Report, Task, Unit};

/// The terminal: messages to stderr, results to stdout, progress as bars on stderr.
pub struct Terminal;

impl Report for Terminal {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }

    fn output(&self, text: &str) {
        print!("{text}");
    }

    fn progress(&self, task: Task) -> Box<dyn Progress> {
        let template = match task.unit {
            Unit::Steps => "{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            Unit::EpisodeSteps => "{prefix:>9} [{bar:30}] step {pos}/{len} {msg}",
        };
        let style = ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> ");
        let bar = ProgressBar::new(task.total).with_style(style);
        bar.set_prefix(task.label);
        bar.set_position(task.done);
        Box::new(TerminalBar { bar, unit: task.unit })
    }
}

/// A bar on stderr (indicatif draws it only where stderr is a terminal).
struct TerminalBar {
    bar: ProgressBar,
    unit: Unit,
}

impl Progress for TerminalBar {
    fn set_done(&self, done: u64) {
        self.bar.set_position(done);
    }

    fn set_note(&self, note: &str) {
        self.bar.set_message(note.to_string());
    }

    fn finish(&self) {
        match self.unit {
            Unit::Steps => self.bar.finish(),
            // An evaluation's bar makes way for its results.
            Unit::EpisodeSteps => self.bar.finish_and_clear(),
        }
    }

    fn abandon(&self) {
        self.bar.abandon();
    }
}
