//! Benchmarks, shared by `qipo bench` and `cargo bench`. Speed is measured here, never
//! asserted in tests.

pub mod kernels;
pub mod peak;
pub mod summary;
pub mod train;
