//! Where the library's messages go. The library never prints: it hands its notes and its
//! results to a [`Report`], which the command line implements by printing them
//! (`commands::Terminal`) and tests or embedders may collect or drop.

/// Receives what the library has to say.
pub trait Report {
    /// A note on what is happening (the command line writes it to stderr, one line).
    fn message(&self, text: &str);
    /// A result that was asked for, exactly as given (the command line writes it to stdout).
    fn output(&self, text: &str);
    /// Whether whoever runs the library asks it to stop. Training polls this after every
    /// logged interval and stops, as at the end of its step budget, at the next point the run
    /// resumes from exactly (Python's Ctrl-C, which cannot interrupt Rust code itself).
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Drops everything.
pub struct Silent;

impl Report for Silent {
    fn message(&self, _: &str) {}
    fn output(&self, _: &str) {}
}
