//! The subcommands of the `qipo` program that are not tied to one module.

pub mod check_critic;
pub mod compare;
pub mod eval;
pub mod info;
pub mod sample;
pub mod toy;
pub mod train;
