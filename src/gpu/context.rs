//! Adapter choice and device creation.
//!
//! qipo prefers a discrete GPU, then an integrated one, then anything else (a CPU driver such
//! as Mesa's lavapipe last). `--adapter NAME|INDEX` picks one explicitly and `WGPU_BACKEND`
//! (vulkan, metal, dx12, gl) restricts the backends searched.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};

use super::kernel::{Kernel, Pipeline, IMMEDIATE_BYTES};

/// Which adapter to use.
#[derive(Clone, Debug, Default)]
pub enum AdapterChoice {
    /// The best by device type: discrete, integrated, virtual, other, CPU.
    #[default]
    Auto,
    /// The n-th adapter in the order `qipo info` lists them.
    Index(usize),
    /// The first adapter whose name contains this text (case-insensitive).
    Name(String),
}

impl std::str::FromStr for AdapterChoice {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => AdapterChoice::Index(i),
            Err(_) if s.eq_ignore_ascii_case("auto") => AdapterChoice::Auto,
            Err(_) => AdapterChoice::Name(s.to_string()),
        })
    }
}

/// A limit's name, the least qipo needs, and how to read it from the adapter's limits.
type RequiredLimit = (&'static str, u64, fn(&wgpu::Limits) -> u64);

/// The smallest limits qipo runs with; anything less gets a clear error naming the limit.
fn required_limits() -> [RequiredLimit; 5] {
    [
        ("max_immediate_size", IMMEDIATE_BYTES as u64, |l| l.max_immediate_size as u64),
        // The fused kernels bind six: a layer's backward products, the three-table minibatch
        // gather, Adam with a Polyak target.
        ("max_storage_buffers_per_shader_stage", 6, |l| l.max_storage_buffers_per_shader_stage as u64),
        ("max_compute_invocations_per_workgroup", 256, |l| l.max_compute_invocations_per_workgroup as u64),
        ("max_compute_workgroup_size_x", 256, |l| l.max_compute_workgroup_size_x as u64),
        ("max_storage_buffer_binding_size", 64 << 20, |l| l.max_storage_buffer_binding_size),
    ]
}

/// The opened device, its queue, and the cache of compiled kernels.
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Whether GPU timestamp queries work on this device.
    pub has_timestamps: bool,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    /// The first validation error the device reported outside an error scope.
    device_error: Arc<Mutex<Option<String>>>,
    /// What was measured once on this device (the fastest matmul core), by name.
    measured: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

/// The rank of a device type in automatic choice: lower is preferred.
fn preference(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Every adapter this machine offers, in order of preference (the order `--adapter INDEX` uses).
pub fn list_adapters() -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (preference(info.device_type), info.backend != wgpu::Backend::Vulkan)
    });
    adapters
}

impl Gpu {
    /// Opens the chosen adapter with every limit it offers and the features qipo uses.
    pub fn new(choice: &AdapterChoice) -> Result<Self> {
        let adapters = list_adapters();
        if adapters.is_empty() {
            bail!(
                "no GPU adapter found (backends: {}); install a Vulkan driver, or Mesa's lavapipe \
                 (mesa-vulkan-drivers) to run on the CPU",
                std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "all".into())
            );
        }
        let names = || {
            adapters
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i}: {} ({:?})", a.get_info().name, a.get_info().backend))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let adapter = match choice {
            AdapterChoice::Auto => adapters[0].clone(),
            AdapterChoice::Index(i) => match adapters.get(*i) {
                Some(a) => a.clone(),
                None => bail!("adapter index {i} out of range; adapters are {}", names()),
            },
            AdapterChoice::Name(name) => {
                let wanted = name.to_lowercase();
                match adapters.iter().find(|a| a.get_info().name.to_lowercase().contains(&wanted)) {
                    Some(a) => a.clone(),
                    None => bail!("no adapter named like '{name}'; adapters are {}", names()),
                }
            }
        };
        Self::open(adapter)
    }

    fn open(adapter: wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        if !features.contains(wgpu::Features::IMMEDIATES) {
            bail!(
                "adapter '{}' ({:?}) lacks the IMMEDIATES feature (push constants), which every kernel uses for its sizes",
                info.name,
                info.backend
            );
        }
        for (name, needed, get) in required_limits() {
            let have = get(&limits);
            if have < needed {
                bail!("adapter '{}' has {name} = {have}, qipo needs at least {needed}", info.name);
            }
        }
        let mut wanted = wgpu::Features::IMMEDIATES;
        let has_timestamps = features.contains(wgpu::Features::TIMESTAMP_QUERY);
        if has_timestamps {
            wanted |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("qipo"),
            required_features: wanted,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .with_context(|| format!("could not open adapter '{}'", info.name))?;

        // Validation errors outside an error scope are kept and reported at the next wait,
        // instead of wgpu's default of panicking.
        let device_error = Arc::new(Mutex::new(None::<String>));
        let sink = device_error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string().lines().next().unwrap_or_default().to_string());
        }));

        Ok(Self {
            adapter,
            device,
            queue,
            info,
            limits,
            has_timestamps,
            pipelines: Mutex::new(HashMap::new()),
            measured: Mutex::new(HashMap::new()),
            device_error,
        })
    }

    /// The compiled pipeline of a kernel: built on first use, then shared.
    pub fn pipeline(&self, kernel: &Kernel) -> Result<Arc<Pipeline>> {
        let key = kernel.key();
        if let Some(p) = self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        let pipeline = Arc::new(Pipeline::build(&self.device, kernel)?);
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// What `measure` finds, measured on the first call for `name` and remembered for the
    /// device's lifetime (a failed measurement is not remembered).
    pub fn measured_once<T: Any + Send + Sync>(
        &self,
        name: &'static str,
        measure: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        // Held while measuring, so that two threads asking at once measure once.
        let mut measured = self.measured.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = measured.get(name) {
            return found.clone().downcast::<T>().map_err(|_| anyhow::anyhow!("'{name}' was measured as another type"));
        }
        let value = Arc::new(measure()?);
        measured.insert(name, value.clone());
        Ok(value)
    }

    /// Blocks until all submitted work is done; reports any device error seen since the last wait.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).context("waiting for the GPU failed")?;
        self.check_errors()
    }

    /// The first device error reported since the last check, as an `Err`.
    pub fn check_errors(&self) -> Result<()> {
        if let Some(e) = self.device_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bail!("GPU validation error: {e}");
        }
        Ok(())
    }

    /// A one-line description: name, backend, type and driver.
    pub fn describe(&self) -> String {
        let i = &self.info;
        format!("{} ({:?}, {:?}, driver {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
    }
}
