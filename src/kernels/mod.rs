//! One small Rust wrapper per WGSL file in `shaders/`: the kernel descriptions (entry point,
//! bindings), the layout of their immediate parameters, and dispatch sizes.
//!
//! Each kernel has a CPU twin in [`crate::reference`] and a test in `tests/` comparing them.

use crate::gpu::kernel::Source;

pub mod adam;
pub mod columns;
pub mod core_timing;
pub mod critic;
pub mod energy_weights;
pub mod euler;
pub mod flow_pairs;
pub mod gather;
pub mod linear;
pub mod loss;
pub mod reduce;
pub mod rng;
pub mod rows;
pub mod sample_rows;
pub mod time_embedding;

/// Shared WGSL snippets, prepended to the kernels that use them.
pub mod snippets {
    use super::Source;
    pub const ACTIVATIONS: Source = ("common/activations.wgsl", include_str!("../../shaders/common/activations.wgsl"));
    pub const MATMUL: Source = ("common/matmul.wgsl", include_str!("../../shaders/common/matmul.wgsl"));
    pub const MATMUL_TILED: Source =
        ("common/matmul_tiled.wgsl", include_str!("../../shaders/common/matmul_tiled.wgsl"));
    pub const RNG: Source = ("common/rng.wgsl", include_str!("../../shaders/common/rng.wgsl"));
    pub const FOURIER: Source = ("common/fourier.wgsl", include_str!("../../shaders/common/fourier.wgsl"));
    pub const BLOCK_SUM: Source = ("common/block_sum.wgsl", include_str!("../../shaders/common/block_sum.wgsl"));
}

/// Every kernel of the project, for validation tests and `qipo info`.
pub fn all() -> Vec<crate::gpu::Kernel> {
    let mut kernels = Vec::new();
    kernels.extend_from_slice(&linear::KERNELS);
    kernels.extend_from_slice(&rng::KERNELS);
    kernels.extend_from_slice(&adam::KERNELS);
    kernels.extend_from_slice(&reduce::KERNELS);
    kernels.extend_from_slice(&time_embedding::KERNELS);
    kernels.extend_from_slice(&loss::KERNELS);
    kernels.extend_from_slice(&energy_weights::KERNELS);
    kernels.extend_from_slice(&euler::KERNELS);
    kernels.extend_from_slice(&flow_pairs::KERNELS);
    kernels.extend_from_slice(&gather::KERNELS);
    kernels.extend_from_slice(&rows::KERNELS);
    kernels.extend_from_slice(&critic::KERNELS);
    kernels.extend_from_slice(&sample_rows::KERNELS);
    kernels.extend_from_slice(&columns::KERNELS);
    kernels
}
