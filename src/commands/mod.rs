//! The subcommands of the `qipo` program that are not tied to one module.

pub mod info;
pub mod toy;
