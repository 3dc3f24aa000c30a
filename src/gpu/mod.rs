//! The GPU runtime: everything between the kernels and wgpu.
//!
//! - [`context`]: choosing an adapter, checking the limits and features qipo needs, the device.
//! - [`buffer`]: typed storage buffers with upload and readback.
//! - [`kernel`]: a WGSL entry point described as data and its compiled pipeline.
//! - [`bound`]: a kernel bound to its buffers, compiled once per device and cached.
//! - [`recorder`]: many dispatches recorded into one encoder and submitted together.
//! - [`timer`]: GPU timestamp queries, where the adapter has them.

pub mod bound;
pub mod buffer;
pub mod context;
pub mod kernel;
pub mod recorder;
pub mod timer;

pub use bound::Bound;
pub use buffer::GpuBuffer;
pub use context::{AdapterChoice, Gpu};
pub use kernel::{Access, Kernel, Pipeline};
pub use recorder::Recorder;
pub use timer::GpuTimer;

/// Invocations per workgroup of every one-dimensional (elementwise, per-row) kernel.
pub const WORKGROUP_1D: u32 = 256;
