//! The dataset on the GPU, and minibatches drawn there.
//!
//! The transitions are uploaded once ([`GpuDataset::upload`]). After that a training step
//! draws its minibatch without the host: a [`MinibatchSampler`] records the gathers of rows
//! picked by indices the GPU RNG draws inline into fixed batch buffers ([`Minibatch`]), and
//! nothing is read back.
//!
//! ```no_run
//! use qipo::data::{Dataset, GpuDataset, MinibatchSampler};
//! use qipo::gpu::{AdapterChoice, Gpu, Recorder};
//!
//! let gpu = Gpu::new(&AdapterChoice::Auto)?;
//! let dataset = Dataset::load("data/hopper-medium-replay-v2.hdf5")?;
//! let on_gpu = GpuDataset::upload(&gpu, &dataset)?;
//! let mut sampler = MinibatchSampler::new(&gpu, &on_gpu, 256, 0)?;
//! let mut rec = Recorder::new(&gpu);
//! sampler.record(&mut rec); // then record the training step reading `sampler.batch`
//! rec.submit()?;
//! # anyhow::Ok(())
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use super::Dataset;
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::kernels::gather::{Gather, GatherTable};
use crate::random::{streams, RngDraw, RngStream};

/// A [`Dataset`]'s transitions in GPU buffers, row-major as on the host.
pub struct GpuDataset {
    /// The file the data was read from, named in error messages.
    pub source: PathBuf,
    /// Number of transitions.
    pub len: usize,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// `len × obs_dim` values: `s_i`.
    pub observations: GpuBuffer,
    /// `len × act_dim` values: `a_i`.
    pub actions: GpuBuffer,
    /// `len` values: `r_i`.
    pub rewards: GpuBuffer,
    /// `len × obs_dim` values: `s'_i`.
    pub next_observations: GpuBuffer,
    /// `len` values: 1.0 where `s'_i` is a true terminal state ([`Dataset::terminals`]).
    pub dones: GpuBuffer,
}

impl GpuDataset {
    /// Uploads every array once. Fails, naming the file, when the arrays do not hold whole
    /// rows or one is larger than the adapter can bind.
    pub fn upload(gpu: &Gpu, dataset: &Dataset) -> Result<Self> {
        Self::upload_arrays(gpu, dataset)
            .with_context(|| format!("{}: cannot put the dataset on the GPU", dataset.source.display()))
    }

    fn upload_arrays(gpu: &Gpu, dataset: &Dataset) -> Result<Self> {
        let len = dataset.len();
        let arrays = [
            ("observations", &dataset.observations, dataset.obs_dim),
            ("actions", &dataset.actions, dataset.act_dim),
            ("rewards", &dataset.rewards, 1),
            ("next_observations", &dataset.next_observations, dataset.obs_dim),
            ("terminals", &dataset.terminals, 1),
        ];
        // The gathers read whole rows by index: a short array would be read past its end.
        for (name, values, width) in arrays {
            if values.len() != len * width {
                bail!("'{name}' holds {} values, not {len} rows of {width}", values.len());
            }
        }
        Ok(Self {
            source: dataset.source.clone(),
            len,
            obs_dim: dataset.obs_dim,
            act_dim: dataset.act_dim,
            observations: GpuBuffer::from_slice(gpu, "observations", &dataset.observations)?,
            actions: GpuBuffer::from_slice(gpu, "actions", &dataset.actions)?,
            rewards: GpuBuffer::from_slice(gpu, "rewards", &dataset.rewards)?,
            next_observations: GpuBuffer::from_slice(gpu, "next_observations", &dataset.next_observations)?,
            dones: GpuBuffer::from_slice(gpu, "dones", &dataset.terminals)?,
        })
    }
}

/// One minibatch of transitions in GPU buffers: row `r` of every array is dataset row
/// `index_r`, drawn uniformly with replacement (see [`MinibatchSampler::record`]).
pub struct Minibatch {
    /// Rows in the batch.
    pub size: usize,
    /// `size × obs_dim` values.
    pub observations: GpuBuffer,
    /// `size × act_dim` values.
    pub actions: GpuBuffer,
    /// `size` values.
    pub rewards: GpuBuffer,
    /// `size × obs_dim` values.
    pub next_observations: GpuBuffer,
    /// `size` values, 1.0 at true terminal states.
    pub dones: GpuBuffer,
}

/// Draws minibatches of a [`GpuDataset`] on the GPU, into one [`Minibatch`] it owns.
///
/// The indices come from the [`streams::MINIBATCH`] stream of the seed given at construction,
/// so the same seed gives the same sequence of batches.
pub struct MinibatchSampler {
    /// The buffers every `record` overwrites.
    pub batch: Minibatch,
    /// The stream of the indices: save `rng.calls` with a checkpoint and set it back to
    /// resume the exact sequence of batches.
    pub rng: RngStream,
    /// Observations, actions and next observations; then rewards, dones and any extra table.
    gathers: [Gather; 2],
    /// Minibatches drawn per call, one per seed, copy after copy in `batch`.
    copies: usize,
}

impl MinibatchSampler {
    /// Allocates the batch buffers and binds the kernels once, for batches of `batch_size`.
    pub fn new(gpu: &Gpu, data: &GpuDataset, batch_size: usize, seed: u64) -> Result<Self> {
        Self::for_copies(gpu, data, batch_size, seed, 1)
    }

    /// A sampler for `copies` seeds trained together: each call draws `copies` minibatches
    /// into `batch`, one after another, copy c's the one a sampler of seed + c would draw.
    pub fn for_copies(gpu: &Gpu, data: &GpuDataset, batch_size: usize, seed: u64, copies: usize) -> Result<Self> {
        Self::with_extra_table(gpu, data, batch_size, seed, copies, None)
    }

    /// [`Self::for_copies`], also gathering the rows of `extra`, a table of one row per
    /// transition (the critic's support actions of each next state), with every minibatch.
    pub fn with_extra_table(
        gpu: &Gpu,
        data: &GpuDataset,
        batch_size: usize,
        seed: u64,
        copies: usize,
        extra: Option<GatherTable>,
    ) -> Result<Self> {
        let file = data.source.display();
        if data.len == 0 {
            bail!("{file}: no transitions to draw minibatches from");
        }
        if batch_size == 0 || u32::try_from(batch_size).is_err() {
            bail!("the minibatch size must be between 1 and {}, not {batch_size}", u32::MAX);
        }
        u32::try_from(data.len).with_context(|| format!("{file}: {} rows is too many", data.len))?;
        let batch = Self::allocate(gpu, data, batch_size * copies.max(1))
            .with_context(|| format!("cannot allocate a minibatch of {batch_size} transitions"))?;
        let table = |src, out, width| GatherTable { src, out, width, per_copy: false };
        let states = [
            table(&data.observations, &batch.observations, data.obs_dim),
            table(&data.actions, &batch.actions, data.act_dim),
            table(&data.next_observations, &batch.next_observations, data.obs_dim),
        ];
        let mut scalars = vec![table(&data.rewards, &batch.rewards, 1), table(&data.dones, &batch.dones, 1)];
        scalars.extend(extra);
        let gathers = [Gather::new(gpu, &states, data.len)?, Gather::new(gpu, &scalars, data.len)?];
        Ok(Self { batch, rng: RngStream::new(seed, streams::MINIBATCH), gathers, copies: copies.max(1) })
    }

    fn allocate(gpu: &Gpu, data: &GpuDataset, size: usize) -> Result<Minibatch> {
        Ok(Minibatch {
            size,
            observations: GpuBuffer::zeros(gpu, "minibatch observations", size * data.obs_dim)?,
            actions: GpuBuffer::zeros(gpu, "minibatch actions", size * data.act_dim)?,
            rewards: GpuBuffer::zeros(gpu, "minibatch rewards", size)?,
            next_observations: GpuBuffer::zeros(gpu, "minibatch next_observations", size * data.obs_dim)?,
            dones: GpuBuffer::zeros(gpu, "minibatch dones", size)?,
        })
    }

    /// Records the next minibatch: the rows named by fresh indices (one draw of the stream,
    /// returned; copy c's row r is dataset row `rng_index(draw.for_copy(c), r, len)`) gathered
    /// into `batch`. Dispatches recorded after this one see the new batch.
    pub fn record(&mut self, rec: &mut Recorder) -> RngDraw {
        let draw = self.rng.next_draw();
        for gather in &self.gathers {
            gather.record(rec, draw, self.copies, self.batch.size / self.copies);
        }
        draw
    }
}
