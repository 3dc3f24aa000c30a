//! The dataset on the GPU and minibatches drawn there: gathered rows against the dataset,
//! reproducibility by seed, uniform coverage, and errors that name the file.

mod common;

use std::path::Path;

use common::gpu;
use qipo::data::{Dataset, GpuDataset, MinibatchSampler};
use qipo::gpu::{Gpu, GpuBuffer, Recorder};
use qipo::reference::gather::drawn_indices;

fn shipped_dataset() -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hopper-medium-replay-v2.hdf5");
    Dataset::load(path).unwrap()
}

/// One minibatch read back to the host.
#[derive(Debug, PartialEq)]
struct HostBatch {
    indices: Vec<u32>,
    observations: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    next_observations: Vec<f32>,
    dones: Vec<f32>,
}

/// The batch buffers.
fn fields(sampler: &MinibatchSampler) -> [&GpuBuffer; 5] {
    let b = &sampler.batch;
    [&b.observations, &b.actions, &b.rewards, &b.next_observations, &b.dones]
}

/// Records `count` minibatches into one Recorder, each copied aside before the next overwrites
/// the batch buffers, and reads them all back after a single submit. The indices are those of
/// each batch's draw, as the CPU twin of the RNG draws them.
fn draw_batches(gpu: &Gpu, sampler: &mut MinibatchSampler, count: usize, data: &GpuDataset) -> Vec<HostBatch> {
    let history: Vec<GpuBuffer> =
        fields(sampler).iter().map(|field| GpuBuffer::zeros(gpu, "history", count * field.len).unwrap()).collect();
    let mut rec = Recorder::new(gpu);
    let mut indices = Vec::new();
    for b in 0..count {
        let draw = sampler.record(&mut rec);
        indices.push(drawn_indices(draw, 1, sampler.batch.size, data.len as u32));
        for (field, kept) in fields(sampler).iter().zip(&history) {
            rec.copy(&field.buffer, 0, &kept.buffer, b * field.len, field.len);
        }
    }
    rec.submit_and_wait().unwrap();

    let floats: Vec<Vec<f32>> = history.iter().map(|h| h.read(gpu).unwrap()).collect();
    let batch = |values: &[f32], b: usize| values.chunks(values.len() / count).nth(b).unwrap().to_vec();
    (0..count)
        .map(|b| HostBatch {
            indices: indices[b].clone(),
            observations: batch(&floats[0], b),
            actions: batch(&floats[1], b),
            rewards: batch(&floats[2], b),
            next_observations: batch(&floats[3], b),
            dones: batch(&floats[4], b),
        })
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn gathered_rows_are_the_dataset_rows_their_indices_name() {
    let gpu = gpu();
    let dataset = shipped_dataset();
    let on_gpu = GpuDataset::upload(gpu, &dataset).unwrap();
    assert_eq!((on_gpu.len, on_gpu.obs_dim, on_gpu.act_dim), (dataset.len(), dataset.obs_dim, dataset.act_dim));
    let size = 67;
    let mut sampler = MinibatchSampler::new(gpu, &on_gpu, size, 2024).unwrap();
    let batches = draw_batches(gpu, &mut sampler, 4, &on_gpu);
    assert_eq!(sampler.rng.calls, 4, "one draw of the stream per batch");

    let (obs, act) = (dataset.obs_dim, dataset.act_dim);
    for (b, batch) in batches.iter().enumerate() {
        assert_eq!(batch.indices.len(), size);
        for (r, &index) in batch.indices.iter().enumerate() {
            let i = index as usize;
            assert!(i < dataset.len(), "batch {b} row {r}: index {i} out of range");
            let at = format!("batch {b} row {r} (dataset row {i})");
            let row = |values: &[f32], width: usize| bits(&values[r * width..(r + 1) * width]);
            assert_eq!(row(&batch.observations, obs), bits(dataset.observation(i)), "{at}: observation");
            assert_eq!(row(&batch.actions, act), bits(dataset.action(i)), "{at}: action");
            assert_eq!(row(&batch.rewards, 1), bits(&dataset.rewards[i..i + 1]), "{at}: reward");
            assert_eq!(row(&batch.next_observations, obs), bits(dataset.next_observation(i)), "{at}: next obs");
            assert_eq!(row(&batch.dones, 1), bits(&dataset.terminals[i..i + 1]), "{at}: done");
        }
    }
    assert_ne!(batches[0].indices, batches[1].indices, "each batch takes fresh indices");
}

#[test]
fn same_seed_same_batches_and_resume_from_the_call_counter() {
    let gpu = gpu();
    let on_gpu = GpuDataset::upload(gpu, &shipped_dataset()).unwrap();
    let draw = |seed: u64, calls: u32, count: usize| {
        let mut sampler = MinibatchSampler::new(gpu, &on_gpu, 33, seed).unwrap();
        sampler.rng.calls = calls;
        draw_batches(gpu, &mut sampler, count, &on_gpu)
    };
    let first = draw(7, 0, 3);
    assert_eq!(first, draw(7, 0, 3), "the same seed gives the same batches");
    let other = draw(8, 0, 3);
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(a.indices, b.indices, "another seed gives other batches");
    }
    // A run resumed from a checkpoint that saved `rng.calls` = 2 continues with the third batch.
    assert_eq!(draw(7, 2, 1)[0], first[2]);
}

#[test]
fn indices_cover_the_dataset_uniformly() {
    let gpu = gpu();
    let dataset = shipped_dataset();
    let on_gpu = GpuDataset::upload(gpu, &dataset).unwrap();
    let mut sampler = MinibatchSampler::new(gpu, &on_gpu, 4096, 99).unwrap();
    let indices: Vec<u32> = draw_batches(gpu, &mut sampler, 8, &on_gpu).into_iter().flat_map(|b| b.indices).collect();

    // Pearson's chi-square over equal bins of dataset rows. With 49 degrees of freedom the
    // statistic has mean 49 and standard deviation 9.9; 100 is beyond the 1e-5 quantile.
    let bins = 50;
    let len = dataset.len();
    let mut counts = vec![0usize; bins];
    for &i in &indices {
        counts[i as usize * bins / len] += 1;
    }
    let chi_square: f64 = (0..bins)
        .map(|b| {
            let rows_in_bin = (b + 1) * len / bins - b * len / bins;
            let expected = indices.len() as f64 * rows_in_bin as f64 / len as f64;
            (counts[b] as f64 - expected).powi(2) / expected
        })
        .sum();
    assert!(chi_square < 100.0, "chi-square {chi_square:.1} over {bins} bins: indices are not uniform ({counts:?})");
    let distinct: std::collections::HashSet<_> = indices.iter().collect();
    // 32768 draws from 20000 rows reach 1 - e^-1.64 ≈ 81% of them.
    assert!(distinct.len() > len * 3 / 4, "only {} distinct rows of {len}", distinct.len());
}

#[test]
fn upload_errors_name_the_file() {
    let gpu = gpu();
    let mut dataset = shipped_dataset();
    dataset.actions.pop();
    let err = format!("{:#}", GpuDataset::upload(gpu, &dataset).err().unwrap());
    assert!(err.contains("hopper-medium-replay-v2.hdf5") && err.contains("'actions'"), "{err}");

    // One row wider than the adapter can bind. The arrays are zeroed allocations the upload
    // never touches, so they cost no memory, but adapters that bind gigabytes are left out to
    // spare small machines the address space.
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    if limit > 1 << 30 {
        return;
    }
    let obs_dim = (limit / 4 + 1) as usize;
    let huge = Dataset {
        obs_dim,
        observations: vec![0.0; obs_dim],
        next_observations: vec![0.0; obs_dim],
        actions: vec![0.0; dataset.act_dim],
        rewards: vec![0.0],
        terminals: vec![0.0],
        episodes: Vec::new(),
        ..dataset
    };
    let err = format!("{:#}", GpuDataset::upload(gpu, &huge).err().unwrap());
    assert!(err.contains("hopper-medium-replay-v2.hdf5") && err.contains("'observations'"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn sampler_rejects_sizes_it_cannot_draw() {
    let gpu = gpu();
    let dataset = shipped_dataset();
    let on_gpu = GpuDataset::upload(gpu, &dataset).unwrap();
    let err = MinibatchSampler::new(gpu, &on_gpu, 0, 1).err().unwrap();
    assert!(err.to_string().contains("minibatch size"), "{err}");

    let no_rows = Dataset {
        observations: Vec::new(),
        actions: Vec::new(),
        rewards: Vec::new(),
        next_observations: Vec::new(),
        terminals: Vec::new(),
        episodes: Vec::new(),
        ..dataset
    };
    let empty = GpuDataset::upload(gpu, &no_rows).unwrap();
    let err = format!("{:#}", MinibatchSampler::new(gpu, &empty, 16, 1).err().unwrap());
    assert!(err.contains("hopper-medium-replay-v2.hdf5") && err.contains("no transitions"), "{err}");
}
