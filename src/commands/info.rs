//! `qipo info`: the adapter, what it offers, and a self-test of every kernel.

use anyhow::{bail, Result};

use crate::gpu::context::list_adapters;
use crate::gpu::Gpu;

/// Prints the adapters, the chosen one's limits and features, and the self-test table.
/// Fails (non-zero exit) when a kernel's result is wrong.
pub fn run(gpu: &Gpu, json: bool) -> Result<()> {
    let checks = crate::selftest::run(gpu)?;
    let (core, core_why) = crate::kernels::core_timing::explain_auto(gpu)?;
    let l = &gpu.limits;
    let f = gpu.adapter.features();
    let limits = [
        ("max_buffer_size", l.max_buffer_size),
        ("max_storage_buffer_binding_size", l.max_storage_buffer_binding_size),
        ("max_storage_buffers_per_shader_stage", l.max_storage_buffers_per_shader_stage as u64),
        ("max_compute_workgroup_storage_size", l.max_compute_workgroup_storage_size as u64),
        ("max_compute_invocations_per_workgroup", l.max_compute_invocations_per_workgroup as u64),
        ("max_compute_workgroups_per_dimension", l.max_compute_workgroups_per_dimension as u64),
        ("max_immediate_size", l.max_immediate_size as u64),
    ];
    let features = [
        ("timestamp_query", f.contains(wgpu::Features::TIMESTAMP_QUERY)),
        ("shader_f16", f.contains(wgpu::Features::SHADER_F16)),
        ("subgroup", f.contains(wgpu::Features::SUBGROUP)),
        ("immediates", f.contains(wgpu::Features::IMMEDIATES)),
    ];
    if json {
        let object = serde_json::json!({
            "adapter": gpu.info.name,
            "backend": format!("{:?}", gpu.info.backend),
            "device_type": format!("{:?}", gpu.info.device_type),
            "driver": gpu.info.driver,
            "driver_info": gpu.info.driver_info,
            "limits": limits.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "features": features.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "matmul_core": core.name(),
            "matmul_core_why": core_why,
            "selftest": checks,
        });
        println!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        println!("adapters (best first; pick one with --adapter NAME|INDEX):");
        for (i, a) in list_adapters().iter().enumerate() {
            let info = a.get_info();
            println!("  {i}: {} ({:?}, {:?})", info.name, info.backend, info.device_type);
        }
        println!("\nusing: {}", gpu.describe());
        println!("\nlimits:");
        for (k, v) in limits {
            println!("  {k:<40} {v}");
        }
        println!("\nfeatures:");
        for (k, v) in features {
            println!("  {k:<40} {}", if v { "yes" } else { "no" });
        }
        println!("\nmatmul core: {core_why}");
        println!("\nself-test (GPU kernels vs CPU reference):");
        let width = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
        println!("  {:<width$} {:>10} {:>10}  {:<6}  kernels", "check", "max error", "tolerance", "result");
        for c in &checks {
            let verdict = if c.passed { "pass" } else { "FAIL" };
            // Entry points only: they are unique, and the JSON has the files too.
            let entries: Vec<&str> = c.kernels.iter().map(|k| k.rsplit(':').next().unwrap_or(k)).collect();
            println!(
                "  {:<width$} {:>10.2e} {:>10.1e}  {verdict:<6}  {}",
                c.name,
                c.max_error,
                c.tolerance,
                entries.join(", ")
            );
        }
    }
    let failed: Vec<&str> = checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    if !failed.is_empty() {
        bail!("self-test failed on {}: this adapter computes wrong results", failed.join(", "));
    }
    Ok(())
}
