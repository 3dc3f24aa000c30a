//! Networks and optimiser state to and from checkpoints: each tensor is named
//! `<prefix>.<part>` so one file can hold several networks.

use anyhow::{Context as _, Result};

use crate::flow::{VelocityNet, VelocitySpec};
use crate::gpu::Gpu;
use crate::kernels::adam::Adam;
use crate::kernels::rng::RngStream;
use crate::nn::Mlp;
use crate::run::checkpoint::Checkpoint;

pub fn save_mlp(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, mlp: &Mlp) -> Result<()> {
    save_mlp_copies(ckpt, gpu, &[prefix], mlp)
}

/// The parameters saved for a network of `mlp`'s shape, written into it.
pub fn load_mlp(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str, mlp: &Mlp) -> Result<()> {
    load_mlp_copies(ckpt, gpu, &[prefix], mlp)
}

/// The copies of a network saved one by one, copy c under `names[c]`, exactly as
/// [`save_mlp`] saves single networks.
pub fn save_mlp_copies(ckpt: &mut Checkpoint, gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    anyhow::ensure!(names.len() == mlp.copies, "{} names for {} copies", names.len(), mlp.copies);
    let params: Vec<f32> = mlp.params.read(gpu)?;
    for (name, copy) in names.iter().zip(params.chunks(mlp.spec.param_count())) {
        ckpt.insert(&format!("{name}.params"), &[copy.len()], copy.to_vec())?;
        ckpt.set_meta_json(&format!("{name}.spec"), &mlp.spec)?;
    }
    Ok(())
}

/// The copies saved by [`save_mlp_copies`] (or as single networks), written into `mlp`.
pub fn load_mlp_copies(ckpt: &Checkpoint, gpu: &Gpu, names: &[&str], mlp: &Mlp) -> Result<()> {
    anyhow::ensure!(names.len() == mlp.copies, "{} names for {} copies", names.len(), mlp.copies);
    for (c, name) in names.iter().enumerate() {
        let params = ckpt.tensor(&format!("{name}.params"), mlp.spec.param_count())?;
        mlp.params.write(gpu, mlp.copy_offset(c), params);
    }
    Ok(())
}

pub fn save_velocity(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, net: &VelocityNet) -> Result<()> {
    save_mlp(ckpt, gpu, prefix, &net.mlp)?;
    let freqs: Vec<f32> = net.frequencies.read(gpu)?;
    ckpt.insert(&format!("{prefix}.frequencies"), &[freqs.len()], freqs)?;
    ckpt.set_meta_json(&format!("{prefix}.velocity"), &net.spec)
}

/// A velocity network rebuilt from a checkpoint alone (its spec is in the metadata).
pub fn load_velocity(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str) -> Result<VelocityNet> {
    let spec: VelocitySpec = ckpt.meta_json(&format!("{prefix}.velocity"))?;
    let params = ckpt.tensor(&format!("{prefix}.params"), spec.mlp().param_count())?;
    let freqs = ckpt.tensor(&format!("{prefix}.frequencies"), spec.time_features / 2)?;
    VelocityNet::from_parts(gpu, &spec, params, freqs)
}

pub fn save_adam(ckpt: &mut Checkpoint, gpu: &Gpu, prefix: &str, adam: &Adam) -> Result<()> {
    save_adam_copies(ckpt, gpu, &[prefix], adam, adam.moments().0.len)
}

/// The optimiser of a network of copies, its moments saved per copy under `names` (the
/// layout of one optimiser per copy), `chunk` parameters each.
pub fn save_adam_copies(ckpt: &mut Checkpoint, gpu: &Gpu, names: &[&str], adam: &Adam, chunk: usize) -> Result<()> {
    let (m, v) = adam.moments();
    let (m, v): (Vec<f32>, Vec<f32>) = (m.read(gpu)?, v.read(gpu)?);
    anyhow::ensure!(m.len() == names.len() * chunk, "{} moments for {} copies of {chunk}", m.len(), names.len());
    for ((name, m), v) in names.iter().zip(m.chunks(chunk)).zip(v.chunks(chunk)) {
        ckpt.insert(&format!("{name}.adam_m"), &[chunk], m.to_vec())?;
        ckpt.insert(&format!("{name}.adam_v"), &[chunk], v.to_vec())?;
        ckpt.set_meta(&format!("{name}.adam_step"), adam.step().to_string());
    }
    Ok(())
}

pub fn load_adam_copies(ckpt: &Checkpoint, gpu: &Gpu, names: &[&str], adam: &mut Adam, chunk: usize) -> Result<()> {
    let (m_buf, v_buf) = adam.moments();
    anyhow::ensure!(m_buf.len == names.len() * chunk, "{} moments for {} copies of {chunk}", m_buf.len, names.len());
    for (c, name) in names.iter().enumerate() {
        m_buf.write(gpu, c * chunk, ckpt.tensor(&format!("{name}.adam_m"), chunk)?);
        v_buf.write(gpu, c * chunk, ckpt.tensor(&format!("{name}.adam_v"), chunk)?);
    }
    let step = ckpt.meta(&format!("{}.adam_step", names[0]))?;
    adam.set_step(step.parse().with_context(|| format!("bad Adam step '{step}' in the checkpoint"))?);
    Ok(())
}

pub fn load_adam(ckpt: &Checkpoint, gpu: &Gpu, prefix: &str, adam: &mut Adam) -> Result<()> {
    let len = adam.moments().0.len;
    load_adam_copies(ckpt, gpu, &[prefix], adam, len)
}

pub fn save_rng(ckpt: &mut Checkpoint, name: &str, rng: &RngStream) {
    ckpt.set_meta(&format!("rng.{name}"), rng.calls.to_string());
}

pub fn load_rng(ckpt: &Checkpoint, name: &str, rng: &mut RngStream) -> Result<()> {
    let calls = ckpt.meta(&format!("rng.{name}"))?;
    rng.calls = calls.parse().with_context(|| format!("bad RNG counter '{calls}' in the checkpoint"))?;
    Ok(())
}
