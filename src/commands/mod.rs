//! The subcommands of the `qipo` program that are not tied to one module.

pub mod check_critic;
pub mod compare;
pub mod dataset;
pub mod eval;
pub mod info;
pub mod sample;
pub mod toy;
pub mod train;

use crate::report::Report;

/// The terminal: messages to stderr, results to stdout.
pub struct Terminal;

impl Report for Terminal {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }

    fn output(&self, text: &str) {
        print!("{text}");
    }
}
