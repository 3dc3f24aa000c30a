//! The CPU twin of every kernel, written for clarity rather than speed.
//!
//! Each function computes exactly what its WGSL kernel computes, in plain loops over
//! row-major slices, so the tests can compare the two on random inputs. Training a whole
//! network on the CPU with these gives the reference path for end-to-end comparisons.

pub mod activation;
pub mod adam;
pub mod columns;
pub mod critic;
pub mod flow;
pub mod gather;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod qipo;
pub mod reduce;
pub mod resnet;
pub mod rng;
pub mod rows;
pub mod time_embedding;
