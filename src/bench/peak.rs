//! The adapter's FP32 peak, against which the kernels' GFLOP/s are judged: given on the
//! command line, or looked up by the adapter's name among well-known GPUs.

use serde::Serialize;

/// The peak used for the fractions, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// FP32 GFLOP/s; null where unknown (CPU drivers, GPUs not in [`KNOWN_GPUS`]).
    pub gflops: Option<f64>,
    /// `--peak-gflops`, `spec sheet: <GPU>`, or `unknown`.
    pub source: String,
}

impl Peak {
    /// `--peak-gflops` if given, else the spec sheet of a known GPU matched on `adapter_name`.
    pub fn resolve(adapter_name: &str, flag: Option<f64>) -> Self {
        if let Some(gflops) = flag {
            return Self { gflops: Some(gflops), source: "--peak-gflops".into() };
        }
        match lookup(adapter_name) {
            Some(gpu) => Self { gflops: Some(gpu.tflops * 1e3), source: format!("spec sheet: {}", gpu.name) },
            None => Self { gflops: None, source: "unknown".into() },
        }
    }

    /// `gflops` as a fraction of the peak, where the peak is known.
    pub fn fraction(&self, gflops: f64) -> Option<f64> {
        self.gflops.map(|peak| gflops / peak)
    }
}

/// A GPU whose adapter name holds every token of `all_of` and none of `none_of` (tokens are
/// the name's lower-case alphanumeric runs, so "a10" does not match "A100").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownGpu {
    pub name: &'static str,
    all_of: &'static [&'static str],
    none_of: &'static [&'static str],
    /// FP32 TFLOP/s.
    pub tflops: f64,
}

const fn gpu(
    name: &'static str,
    all_of: &'static [&'static str],
    none_of: &'static [&'static str],
    tflops: f64,
) -> KnownGpu {
    KnownGpu { name, all_of, none_of, tflops }
}

/// Vendor spec-sheet FP32 peaks (CUDA cores or vector units at boost clock, no tensor or
/// matrix cores). Variants with other clocks or unit counts (laptop parts, NVL boards, Ti,
/// 4090 D, A10G) are excluded rather than guessed. MI250X is left out: it appears as two
/// devices, each with half the package's peak.
pub const KNOWN_GPUS: &[KnownGpu] = &[
    gpu("NVIDIA H100 PCIe", &["h100", "pcie"], &[], 51.2),
    gpu("NVIDIA H100 SXM5", &["h100"], &["pcie", "nvl"], 66.9),
    gpu("NVIDIA H200 SXM", &["h200"], &["nvl"], 66.9),
    gpu("NVIDIA A100", &["a100"], &[], 19.5),
    gpu("NVIDIA L40S", &["l40s"], &[], 91.6),
    gpu("NVIDIA L4", &["l4"], &[], 30.3),
    gpu("NVIDIA A10", &["a10"], &[], 31.2),
    gpu("NVIDIA T4", &["t4"], &[], 8.1),
    gpu("NVIDIA V100 SXM2", &["v100", "sxm2"], &[], 15.7),
    gpu("NVIDIA V100 PCIe", &["v100", "pcie"], &[], 14.0),
    gpu("NVIDIA GeForce RTX 4090", &["rtx", "4090"], &["laptop", "d"], 82.6),
    gpu("NVIDIA GeForce RTX 3090", &["rtx", "3090"], &["laptop", "ti"], 35.6),
    gpu("AMD Instinct MI300X", &["mi300x"], &[], 163.4),
];

fn tokens(name: &str) -> Vec<String> {
    name.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The first entry of [`KNOWN_GPUS`] that matches an adapter name such as
/// "NVIDIA H100 80GB HBM3" or "AMD Instinct MI300X (RADV GFX942)".
pub fn lookup(adapter_name: &str) -> Option<&'static KnownGpu> {
    let tokens = tokens(adapter_name);
    let has = |t: &&str| tokens.iter().any(|token| token == t);
    KNOWN_GPUS.iter().find(|gpu| gpu.all_of.iter().all(has) && !gpu.none_of.iter().any(has))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tflops(adapter_name: &str) -> Option<f64> {
        lookup(adapter_name).map(|gpu| gpu.tflops)
    }

    #[test]
    fn known_adapter_names_find_their_spec_sheet_peak() {
        assert_eq!(tflops("NVIDIA H100 80GB HBM3"), Some(66.9));
        assert_eq!(tflops("NVIDIA H100 PCIe"), Some(51.2));
        assert_eq!(tflops("NVIDIA H200"), Some(66.9));
        assert_eq!(tflops("NVIDIA A100-SXM4-80GB"), Some(19.5));
        assert_eq!(tflops("NVIDIA A100 80GB PCIe"), Some(19.5));
        assert_eq!(tflops("NVIDIA A10"), Some(31.2));
        assert_eq!(tflops("NVIDIA L4"), Some(30.3));
        assert_eq!(tflops("NVIDIA L40S"), Some(91.6));
        assert_eq!(tflops("Tesla T4"), Some(8.1));
        assert_eq!(tflops("Tesla V100-SXM2-16GB"), Some(15.7));
        assert_eq!(tflops("Tesla V100-PCIE-32GB"), Some(14.0));
        assert_eq!(tflops("NVIDIA GeForce RTX 4090"), Some(82.6));
        assert_eq!(tflops("NVIDIA GeForce RTX 3090"), Some(35.6));
        assert_eq!(tflops("AMD Instinct MI300X (RADV GFX942)"), Some(163.4));
    }

    #[test]
    fn other_variants_and_cpu_drivers_are_unknown() {
        for name in [
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            "NVIDIA H100 NVL",
            "NVIDIA H200 NVL",
            "NVIDIA GH200 480GB",
            "NVIDIA A10G",
            "NVIDIA L40",
            "NVIDIA GeForce RTX 4090 Laptop GPU",
            "NVIDIA GeForce RTX 4090 D",
            "NVIDIA GeForce RTX 3090 Ti",
            "AMD Instinct MI250X (RADV GFX90A)",
            "Apple M2",
        ] {
            assert_eq!(lookup(name), None, "{name}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_table() {
        let given = Peak::resolve("NVIDIA H100 80GB HBM3", Some(1000.0));
        assert_eq!(given, Peak { gflops: Some(1000.0), source: "--peak-gflops".into() });
        assert_eq!(given.fraction(250.0), Some(0.25));

        let looked_up = Peak::resolve("NVIDIA H100 80GB HBM3", None);
        assert_eq!(looked_up.source, "spec sheet: NVIDIA H100 SXM5");
        assert!((looked_up.gflops.unwrap() - 66_900.0).abs() < 1e-6);

        let unknown = Peak::resolve("llvmpipe (LLVM 15.0.6, 256 bits)", None);
        assert_eq!(unknown, Peak { gflops: None, source: "unknown".into() });
        assert_eq!(unknown.fraction(1.0), None);
    }
}
