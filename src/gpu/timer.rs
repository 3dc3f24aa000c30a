//! GPU timestamp queries: how long a group of dispatches took on the device itself.

use anyhow::Result;

use super::context::Gpu;
use super::GpuBuffer;

/// Timestamps for `slots` timed passes (a start and an end each).
pub struct GpuTimer {
    queries: Option<wgpu::QuerySet>,
    resolved: Option<wgpu::Buffer>,
    readback: Option<GpuBuffer>,
    slots: usize,
    period_ns: f64,
}

impl GpuTimer {
    /// A timer with `slots` slots; a no-op timer where the device has no timestamp queries.
    pub fn new(gpu: &Gpu, slots: usize) -> Result<Self> {
        if !gpu.has_timestamps || slots == 0 {
            return Ok(Self { queries: None, resolved: None, readback: None, slots, period_ns: 0.0 });
        }
        let count = (2 * slots) as u32;
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolved = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps resolved"),
            size: count as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        // Timestamps are u64: read them as pairs of u32.
        let readback = GpuBuffer::zeros(gpu, "timestamps", 2 * count as usize)?;
        Ok(Self {
            queries: Some(queries),
            resolved: Some(resolved),
            readback: Some(readback),
            slots,
            period_ns: gpu.queue.get_timestamp_period() as f64,
        })
    }

    /// Whether this timer really measures anything.
    pub fn enabled(&self) -> bool {
        self.queries.is_some()
    }

    pub(super) fn pass_writes(&self, slot: usize) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        assert!(slot < self.slots, "timer slot {slot} out of {}", self.slots);
        self.queries.as_ref().map(|q| wgpu::ComputePassTimestampWrites {
            query_set: q,
            beginning_of_pass_write_index: Some(2 * slot as u32),
            end_of_pass_write_index: Some(2 * slot as u32 + 1),
        })
    }

    pub(super) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if let (Some(q), Some(resolved), Some(readback)) = (&self.queries, &self.resolved, &self.readback) {
            let count = 2 * self.slots as u32;
            encoder.resolve_query_set(q, 0..count, resolved, 0);
            encoder.copy_buffer_to_buffer(resolved, 0, &readback.buffer, 0, count as u64 * 8);
        }
    }

    /// Milliseconds each slot's pass took (after a submit that resolved this timer).
    /// Empty where the adapter has no timestamps.
    pub fn read_ms(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        let Some(readback) = &self.readback else {
            return Ok(Vec::new());
        };
        let words: Vec<u32> = readback.read(gpu)?;
        let stamp = |i: usize| words[2 * i] as u64 | ((words[2 * i + 1] as u64) << 32);
        Ok((0..self.slots)
            .map(|s| stamp(2 * s + 1).saturating_sub(stamp(2 * s)) as f64 * self.period_ns / 1e6)
            .collect())
    }
}
