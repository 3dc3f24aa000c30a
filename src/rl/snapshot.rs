//! Networks and optimiser state to and from checkpoints: each tensor is named
//! `<prefix>.<part>` so one file can hold several networks.
//!
//! A multi-seed run keeps one checkpoint per seed, each exactly what a run of that seed alone
//! writes. The `*_seeds` functions split networks of copies across them: with `names` per
//! seed, copy `c × names.len() + k` is saved in checkpoint c under `names[k]` (the twin
//! critic's heads: two names per seed).

use anyhow::{ensure, Context as _, Result};

use crate::flow::{VelocityNet, VelocitySpec};
use crate::gpu::Gpu;
use crate::kernels::adam::Adam;
use crate::nn::Mlp;
use crate::random::RngStream;
use crate::run::checkpoint::Checkpoint;

pub fn save_mlp(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, mlp: &Mlp) -> Result<()> {
    save_mlp_seeds(std::slice::from_mut(ckpt), gpu, &[prefix], mlp)
}

/// The parameters saved for a network of `mlp`'s shape, written into it.
pub fn load_mlp(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str, mlp: &Mlp) -> Result<()> {
    load_mlp_seeds(std::slice::from_ref(ckpt), gpu, &[prefix], mlp)
}

/// The copies of a network saved one by one, copy c under `names[c]`, exactly as
/// [`save_mlp`] saves single networks.
pub fn save_mlp_copies(ckpt: &mut Checkpoint, gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    save_mlp_seeds(std::slice::from_mut(ckpt), gpu, names, mlp)
}

/// The copies saved by [`save_mlp_copies`] (or as single networks), written into `mlp`.
pub fn load_mlp_copies(ckpt: &Checkpoint, gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    load_mlp_seeds(std::slice::from_ref(ckpt), gpu, names, mlp)
}

fn check_copies(seeds: usize, names: &[&str], copies: usize) -> Result<()> {
    ensure!(seeds * names.len() == copies, "{seeds} checkpoints of {} networks for {copies} copies", names.len());
    Ok(())
}

/// Every seed's copies of a network, each seed's into its own checkpoint.
pub fn save_mlp_seeds(ckpts: &mut [Checkpoint], gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    check_copies(ckpts.len(), names, mlp.copies)?;
    let params: Vec<f32> = mlp.params.read(gpu)?;
    let mut copies = params.chunks(mlp.spec.param_count());
    for ckpt in ckpts.iter_mut() {
        for (name, copy) in names.iter().zip(copies.by_ref()) {
            ckpt.insert(&format!("{name}.params"), &[copy.len()], copy.to_vec())?;
            ckpt.set_meta_json(&format!("{name}.spec"), &mlp.spec)?;
        }
    }
    Ok(())
}

/// What [`save_mlp_seeds`] saved, written back into `mlp`.
pub fn load_mlp_seeds(ckpts: &[Checkpoint], gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    check_copies(ckpts.len(), names, mlp.copies)?;
    for (s, ckpt) in ckpts.iter().enumerate() {
        for (k, name) in names.iter().enumerate() {
            let params = ckpt.tensor(&format!("{name}.params"), mlp.spec.param_count())?;
            mlp.params.write(gpu, mlp.copy_offset(s * names.len() + k), params);
        }
    }
    Ok(())
}

pub fn save_velocity(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, net: &VelocityNet) -> Result<()> {
    save_velocity_seeds(std::slice::from_mut(ckpt), gpu, prefix, net)
}

/// Each copy of a velocity network (one per seed) into its seed's checkpoint.
pub fn save_velocity_seeds(ckpts: &mut [Checkpoint], gpu: &Gpu, prefix: &str, net: &VelocityNet) -> Result<()> {
    check_copies(ckpts.len(), &[prefix], net.copies())?;
    let params: Vec<f32> = net.params().read(gpu)?;
    let freqs: Vec<f32> = net.frequencies.read(gpu)?;
    let per_copy = net.spec.time_features / 2;
    for (c, (ckpt, copy)) in ckpts.iter_mut().zip(params.chunks(net.spec.param_count())).enumerate() {
        ckpt.insert(&format!("{prefix}.params"), &[copy.len()], copy.to_vec())?;
        let own = freqs[c * per_copy..(c + 1) * per_copy].to_vec();
        ckpt.insert(&format!("{prefix}.frequencies"), &[per_copy], own)?;
        ckpt.set_meta_json(&format!("{prefix}.velocity"), &net.spec)?;
    }
    Ok(())
}

/// What [`save_velocity_seeds`] saved, written into `net`'s parameters (the frequencies
/// follow from the seed): resuming a run whose network was made from its config.
pub fn load_velocity_params_seeds(ckpts: &[Checkpoint], gpu: &Gpu, prefix: &str, net: &VelocityNet) -> Result<()> {
    check_copies(ckpts.len(), &[prefix], net.copies())?;
    let n = net.spec.param_count();
    for (s, ckpt) in ckpts.iter().enumerate() {
        net.params().write(gpu, s * n, ckpt.tensor(&format!("{prefix}.params"), n)?);
    }
    Ok(())
}

/// A velocity network rebuilt from a checkpoint alone (its spec is in the metadata).
pub fn load_velocity(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str) -> Result<VelocityNet> {
    load_velocity_seeds(std::slice::from_ref(ckpt), gpu, prefix)
}

/// The copies of a velocity network, copy c from checkpoint c.
pub fn load_velocity_seeds(ckpts: &[Checkpoint], gpu: &Gpu, prefix: &str) -> Result<VelocityNet> {
    ensure!(!ckpts.is_empty(), "no checkpoints to load '{prefix}' from");
    let spec: VelocitySpec = ckpts[0].meta_json(&format!("{prefix}.velocity"))?;
    let mut params = Vec::new();
    let mut frequencies = Vec::new();
    for ckpt in ckpts {
        let own: VelocitySpec = ckpt.meta_json(&format!("{prefix}.velocity"))?;
        ensure!(own == spec, "the seeds' checkpoints hold '{prefix}' networks of different shapes");
        params.push(ckpt.tensor(&format!("{prefix}.params"), spec.param_count())?.to_vec());
        frequencies.push(ckpt.tensor(&format!("{prefix}.frequencies"), spec.time_features / 2)?.to_vec());
    }
    VelocityNet::copies_from_parts(gpu, &spec, &params, &frequencies)
}

pub fn save_adam(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, adam: &Adam) -> Result<()> {
    save_adam_copies(ckpt, gpu, &[prefix], adam, adam.moments().0.len)
}

/// The optimiser of a network of copies, its moments saved per copy under `names` (the
/// layout of one optimiser per copy), `chunk` parameters each.
pub fn save_adam_copies(ckpt: &mut Checkpoint, gpu: &Gpu, names: &[&str], adam: &Adam, chunk: usize) -> Result<()> {
    save_adam_seeds(std::slice::from_mut(ckpt), gpu, names, adam, chunk)
}

/// The optimiser of every seed's copies, each seed's moments into its own checkpoint.
pub fn save_adam_seeds(ckpts: &mut [Checkpoint], gpu: &Gpu, names: &[&str], adam: &Adam, chunk: usize) -> Result<()> {
    let (m, v) = adam.moments();
    let (m, v): (Vec<f32>, Vec<f32>) = (m.read(gpu)?, v.read(gpu)?);
    let copies = ckpts.len() * names.len();
    ensure!(m.len() == copies * chunk, "{} moments for {copies} copies of {chunk}", m.len());
    let mut parts = m.chunks(chunk).zip(v.chunks(chunk));
    for ckpt in ckpts.iter_mut() {
        for (name, (m, v)) in names.iter().zip(parts.by_ref()) {
            ckpt.insert(&format!("{name}.adam_m"), &[chunk], m.to_vec())?;
            ckpt.insert(&format!("{name}.adam_v"), &[chunk], v.to_vec())?;
            ckpt.set_meta(&format!("{name}.adam_step"), adam.step().to_string());
        }
    }
    Ok(())
}

pub fn load_adam_copies(ckpt: &Checkpoint, gpu: &Gpu, names: &[&str], adam: &mut Adam, chunk: usize) -> Result<()> {
    load_adam_seeds(std::slice::from_ref(ckpt), gpu, names, adam, chunk)
}

/// What [`save_adam_seeds`] saved, written back into `adam`.
pub fn load_adam_seeds(ckpts: &[Checkpoint], gpu: &Gpu, names: &[&str], adam: &mut Adam, chunk: usize) -> Result<()> {
    let (m_buf, v_buf) = adam.moments();
    let copies = ckpts.len() * names.len();
    ensure!(m_buf.len == copies * chunk, "{} moments for {copies} copies of {chunk}", m_buf.len);
    let mut step = None;
    for (s, ckpt) in ckpts.iter().enumerate() {
        for (k, name) in names.iter().enumerate() {
            let at = (s * names.len() + k) * chunk;
            m_buf.write(gpu, at, ckpt.tensor(&format!("{name}.adam_m"), chunk)?);
            v_buf.write(gpu, at, ckpt.tensor(&format!("{name}.adam_v"), chunk)?);
        }
        let saved = ckpt.meta(&format!("{}.adam_step", names[0]))?;
        let saved: u64 = saved.parse().with_context(|| format!("bad Adam step '{saved}' in the checkpoint"))?;
        ensure!(step.is_none_or(|s| s == saved), "the seeds' checkpoints were saved at different Adam steps");
        step = Some(saved);
    }
    adam.set_step(step.context("no checkpoints to load an optimiser from")?);
    Ok(())
}

pub fn load_adam(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str, adam: &mut Adam) -> Result<()> {
    let len = adam.moments().0.len;
    load_adam_copies(ckpt, gpu, &[prefix], adam, len)
}

/// A stream's position, in every seed's checkpoint (the seeds draw in step).
pub fn save_rng(ckpts: &mut [Checkpoint], name: &str, rng: &RngStream) {
    for ckpt in ckpts {
        ckpt.set_meta(&format!("rng.{name}"), rng.calls.to_string());
    }
}

/// A stream's position from the seeds' checkpoints, which must agree.
pub fn load_rng(ckpts: &[Checkpoint], name: &str, rng: &mut RngStream) -> Result<()> {
    let mut position = None;
    for ckpt in ckpts {
        let calls = ckpt.meta(&format!("rng.{name}"))?;
        let calls: u32 = calls.parse().with_context(|| format!("bad RNG counter '{calls}' in the checkpoint"))?;
        ensure!(position.is_none_or(|p| p == calls), "the seeds' checkpoints hold different positions of '{name}'");
        position = Some(calls);
    }
    rng.calls = position.context("no checkpoints to load a random stream from")?;
    Ok(())
}
