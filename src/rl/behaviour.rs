//! Behaviour pretraining (ALGORITHM.md section 4, stage 1): plain conditional flow matching of
//! the dataset's actions given its states, i.e. energy-weighted flow matching with beta = 0.

use anyhow::Result;

use super::config::BehaviourConfig;
use super::driver::{column_mean, read_ring, StageContext, StageTrainer};
use super::ema::Averaged;
use super::metrics::FlowLoss;
use super::snapshot::{load_adam_seeds, load_rng, save_adam_seeds, save_rng};
use crate::flow::efm::EfmTable;
use crate::flow::{EfmConfig, EfmTrainer, VelocityNet, VelocitySpec};
use crate::gpu::{Gpu, GpuBuffer, Recorder};
use crate::ops::AdamConfig;
use crate::run::Checkpoint;

/// The checkpoint name of the behaviour policy.
pub const BEHAVIOUR: &str = "behaviour";
/// The checkpoint names of its trainer's random streams, in the trainer's order.
const STREAMS: [&str; 3] = ["minibatch", "noise", "time"];

/// The behaviour policy mu, a copy per seed (with the average of its weights when
/// `policy_net.ema` asks for one), and its trainer.
pub struct Pretraining {
    pub net: Averaged,
    trainer: EfmTrainer,
}

impl Pretraining {
    /// A fresh policy of `spec` per seed from `seed` on, trained on `data`, its weights
    /// averaged with `ema` (0: not averaged); `ring_len` steps' losses are kept between reads.
    pub fn new(
        at: StageContext,
        spec: &VelocitySpec,
        config: &BehaviourConfig,
        ema: f64,
        seeds: usize,
    ) -> Result<Self> {
        let StageContext { gpu, data, seed, ring_len } = at;
        let net = VelocityNet::for_seeds(gpu, spec, seed, seeds)?;
        let zeros = GpuBuffer::zeros(gpu, "zero energies", data.len)?;
        let table = EfmTable { len: data.len, points: &data.actions, energies: &zeros, cond: Some(&data.observations) };
        let adam = AdamConfig { lr: config.lr, max_grad_norm: config.max_grad_norm, ..Default::default() };
        let efm = EfmConfig { batch: config.batch, beta: 0.0, group: 0, adam };
        let net = Averaged::new(gpu, net, ema)?;
        let mut trainer = EfmTrainer::new(gpu, &net.online, table, efm, seed, ring_len)?;
        net.follow(gpu, &mut trainer.flow.adam)?;
        Ok(Self { net, trainer })
    }
}

impl StageTrainer for Pretraining {
    type Metrics = FlowLoss;

    fn record_step(&mut self, rec: &mut Recorder) {
        self.trainer.record_step(rec, &self.net.online);
    }

    fn read_metrics(&self, gpu: &Gpu, steps: usize) -> Result<Vec<FlowLoss>> {
        let seeds = self.net.online.copies();
        let losses = read_ring(gpu, &self.trainer.flow.losses, self.trainer.steps(), steps, seeds)?;
        Ok((0..seeds).map(|c| FlowLoss { loss: column_mean(&losses, seeds, c) }).collect())
    }

    fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint]) -> Result<()> {
        self.net.save(gpu, ckpts, BEHAVIOUR)?;
        save_adam_seeds(ckpts, gpu, &[BEHAVIOUR], &self.trainer.flow.adam, self.net.online.spec.param_count())?;
        for (name, rng) in STREAMS.iter().zip(&self.trainer.rng) {
            save_rng(ckpts, name, rng);
        }
        Ok(())
    }

    fn load(&mut self, gpu: &Gpu, ckpts: &[Checkpoint]) -> Result<()> {
        // The Fourier frequencies are drawn from the seed, as when the checkpoint was saved.
        self.net.load(gpu, ckpts, BEHAVIOUR)?;
        load_adam_seeds(ckpts, gpu, &[BEHAVIOUR], &mut self.trainer.flow.adam, self.net.online.spec.param_count())?;
        for (name, rng) in STREAMS.iter().zip(&mut self.trainer.rng) {
            load_rng(ckpts, name, rng)?;
        }
        Ok(())
    }

    fn evaluated(&self) -> Option<&VelocityNet> {
        Some(self.net.used())
    }
}
