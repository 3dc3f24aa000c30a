//! An exponential moving average of a velocity network's weights (`policy_net.ema`), the
//! weights the rest of a run uses: for support actions, renewals, evaluation and sampling.
//!
//! The average follows the trained weights inside Adam's update dispatch (its Polyak step,
//! the one that moves the critic's targets): `ema ← (1 - decay)·θ + decay·ema` after every
//! step. A checkpoint keeps the average under the network's name, where every reader of a
//! run looks for the network, and the trained weights under `<name>_online`, for resuming.

use anyhow::Result;

use super::snapshot::{load_velocity_params_seeds, save_velocity_seeds};
use crate::flow::VelocityNet;
use crate::gpu::Gpu;
use crate::kernels::adam::Adam;
use crate::run::Checkpoint;

/// A network being trained and, when averaging, the average of its weights.
pub struct Averaged {
    /// The weights Adam updates.
    pub online: VelocityNet,
    /// Their moving average, starting at the online weights; `None` without averaging.
    pub ema: Option<VelocityNet>,
    decay: f64,
}

impl Averaged {
    /// `online` and, with a `decay` above 0, an average of its weights starting from them;
    /// [`Self::follow`] then moves it with the optimiser's steps.
    pub fn new(gpu: &Gpu, online: VelocityNet, decay: f64) -> Result<Self> {
        let ema = (decay > 0.0).then(|| online.duplicate(gpu)).transpose()?;
        Ok(Self { online, ema, decay })
    }

    /// From now on every step of `adam` (the online weights' optimiser) also moves the
    /// average: ema ← (1 - decay)·θ + decay·ema, tau = 1 - decay in its Polyak step.
    pub fn follow(&self, gpu: &Gpu, adam: &mut Adam) -> Result<()> {
        match &self.ema {
            Some(ema) => adam.set_polyak_target(gpu, ema.params(), (1.0 - self.decay) as f32),
            None => Ok(()),
        }
    }

    /// The weights the rest of the run uses: the average, or the trained weights.
    pub fn used(&self) -> &VelocityNet {
        self.ema.as_ref().unwrap_or(&self.online)
    }

    pub fn into_used(self) -> VelocityNet {
        self.ema.unwrap_or(self.online)
    }

    /// The used weights under `name` and, when averaging, the trained ones under
    /// `<name>_online`, each seed's into its checkpoint.
    pub fn save(&self, gpu: &Gpu, ckpts: &mut [Checkpoint], name: &str) -> Result<()> {
        save_velocity_seeds(ckpts, gpu, name, self.used())?;
        if self.ema.is_some() {
            save_velocity_seeds(ckpts, gpu, &online_name(name), &self.online)?;
        }
        Ok(())
    }

    /// What [`Self::save`] saved, written back.
    pub fn load(&self, gpu: &Gpu, ckpts: &[Checkpoint], name: &str) -> Result<()> {
        load_velocity_params_seeds(ckpts, gpu, name, self.used())?;
        if self.ema.is_some() {
            load_velocity_params_seeds(ckpts, gpu, &online_name(name), &self.online)?;
        }
        Ok(())
    }
}

/// Where a checkpoint keeps the trained weights of an averaged network.
fn online_name(name: &str) -> String {
    format!("{name}_online")
}
