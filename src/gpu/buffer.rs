//! Storage buffers of 4-byte elements (f32 or u32), with upload and readback.

use anyhow::{bail, Context as _, Result};
use wgpu::util::DeviceExt as _;

use super::context::Gpu;

/// A storage buffer holding `len` elements of 4 bytes each. Clones are handles to the same
/// GPU memory (wgpu buffers are reference-counted).
#[derive(Clone)]
pub struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    pub len: usize,
    pub label: String,
}

const ELEMENT: u64 = 4;
const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

fn check_size(gpu: &Gpu, label: &str, len: usize) -> Result<u64> {
    let bytes = (len.max(1) as u64) * ELEMENT;
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    if bytes > limit {
        bail!("buffer '{label}' needs {bytes} bytes, but the adapter binds at most {limit}");
    }
    Ok(bytes)
}

impl GpuBuffer {
    /// A zero-filled buffer. Zero-length buffers get one element, since bindings cannot be empty.
    pub fn zeros(gpu: &Gpu, label: &str, len: usize) -> Result<Self> {
        let size = check_size(gpu, label, len)?;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(Self { buffer, len, label: label.to_string() })
    }

    /// A buffer initialised from host data (f32, u32 or any 4-byte plain type).
    pub fn from_slice<T: bytemuck::Pod>(gpu: &Gpu, label: &str, data: &[T]) -> Result<Self> {
        assert_eq!(std::mem::size_of::<T>() as u64, ELEMENT, "GpuBuffer holds 4-byte elements");
        if data.is_empty() {
            return Self::zeros(gpu, label, 0);
        }
        check_size(gpu, label, data.len())?;
        let buffer = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: USAGE,
        });
        Ok(Self { buffer, len: data.len(), label: label.to_string() })
    }

    /// Overwrites elements starting at `offset` (queued; takes effect at the next submit).
    pub fn write<T: bytemuck::Pod>(&self, gpu: &Gpu, offset: usize, data: &[T]) {
        assert!(offset + data.len() <= self.len, "write past the end of '{}'", self.label);
        gpu.queue.write_buffer(&self.buffer, offset as u64 * ELEMENT, bytemuck::cast_slice(data));
    }

    /// Copies the whole buffer back to the host, waiting for all submitted work first.
    pub fn read<T: bytemuck::Pod>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        self.read_range(gpu, 0, self.len)
    }

    /// Copies `len` elements starting at `start` back to the host.
    pub fn read_range<T: bytemuck::Pod>(&self, gpu: &Gpu, start: usize, len: usize) -> Result<Vec<T>> {
        assert!(start + len <= self.len, "read past the end of '{}'", self.label);
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = len as u64 * ELEMENT;
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.buffer, start as u64 * ELEMENT, &staging, 0, bytes);
        gpu.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        gpu.wait()?;
        rx.recv()
            .context("the GPU dropped a readback")?
            .with_context(|| format!("could not map '{}' for reading", self.label))?;
        let data = {
            let view = slice.get_mapped_range().with_context(|| format!("could not read '{}'", self.label))?;
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
    }
}
