//! Every QIPO stage on the GPU against the CPU reference of src/reference/qipo.rs: the
//! same initial parameters and seeds go to both, a couple of steps run on each, and the
//! losses, statistics, gradients, support actions, Q-values, weights and parameters that
//! come out must agree, on a tiny synthetic dataset with tiny networks.
//!
//! Tolerance: |gpu - cpu| <= 1e-4·(1 + |cpu|) for every compared value. Both sides do the
//! same f32 arithmetic, but sums run in a different order (tiled matrix products, reduction
//! trees) and the device's exp, log, sin and cos differ from Rust's in the last bits, so
//! values of order one agree to about 1e-7 on lavapipe. The bound leaves room for devices
//! with coarser exp, log, sin and cos (a few 1e-6), while a wrong draw, index, offset or
//! formula shows up as an error of order one.
//! Gradients, often far below one, are compared in units of the largest of them. The
//! learning rate (1e-3) is ten times the tolerance, so a parameter moved in the wrong
//! direction fails the comparison too.

mod common;

use std::path::PathBuf;

use common::{gpu, random};
use qipo::data::{Dataset, Episode, EpisodeEnd, Format, GpuDataset, References};
use qipo::flow::efm::EfmTable;
use qipo::flow::{Architecture, EfmConfig, EfmTrainer, VelocityNet, VelocitySpec};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::nn::{Activation, Mlp, MlpSpec};
use qipo::ops::AdamConfig;
use qipo::random::{streams, RngStream};
use qipo::reference::qipo::{self as cpu, TwinCriticParams, VelocityParams};
use qipo::rl::config::{CriticConfig, CriticKind, PolicyConfig, SupportConfig};
use qipo::rl::critic::{stat_index, stats_width, CriticStat, CriticTrainer, TwinCritic};
use qipo::rl::driver::StageContext;
use qipo::rl::ema::Averaged;
use qipo::rl::improve::{ImproveRng, PolicyImprover};
use qipo::rl::support::{SupportLayout, SupportSampler, CHUNK_STATES};

/// Transitions of the tiny dataset.
const LEN: usize = 37;
/// States enough for two chunks of the support sampler, whose boundary has its own offsets
/// and continues the table's one random draw.
const TWO_CHUNKS: usize = CHUNK_STATES + 3;
const OBS_DIM: usize = 5;
const ACT_DIM: usize = 2;
const HIDDEN: [usize; 2] = [8, 8];
/// Support actions per state.
const M: usize = 3;
const BATCH: usize = 7;
const EULER_STEPS: usize = 3;
const LR: f64 = 1e-3;
/// Steps per training stage: the second checks that every random stream and Adam's step
/// counter moved on after the first.
const STEPS: usize = 2;
const TOLERANCE: f32 = 1e-4;
const SEED: u64 = 17;

/// `len` transitions with random states, actions inside [-1, 1], rewards and a few terminals.
fn dataset(len: usize) -> Dataset {
    let rewards = random(3, len, 1.0);
    let terminals = (0..len).map(|i| if i % 9 == 8 { 1.0 } else { 0.0 }).collect();
    Dataset {
        source: PathBuf::from("synthetic"),
        format: Format::D4rl,
        env: None,
        id: None,
        eval_env: None,
        references: References::D4rl,
        obs_dim: OBS_DIM,
        act_dim: ACT_DIM,
        observations: random(1, len * OBS_DIM, 1.0),
        actions: random(2, len * ACT_DIM, 0.9),
        next_observations: random(4, len * OBS_DIM, 1.0),
        episodes: vec![Episode {
            start: 0,
            end: len,
            steps: len,
            total_reward: rewards.iter().map(|&r| r as f64).sum(),
            ending: EpisodeEnd::Timeout,
        }],
        rewards,
        terminals,
        warnings: Vec::new(),
    }
}

/// The policy: the MLP, or the residual network with a width change in its down path.
fn policy_spec(architecture: Architecture) -> VelocitySpec {
    let hidden = match architecture {
        Architecture::Mlp => HIDDEN.to_vec(),
        Architecture::Resnet { .. } => vec![9, 6],
    };
    VelocitySpec {
        dim: ACT_DIM,
        cond_dim: OBS_DIM,
        time_features: 8,
        time_scale: 30.0,
        hidden,
        activation: Activation::Mish,
        architecture,
    }
}

const RESNET: Architecture = Architecture::Resnet { cond_width: 3, embed_width: 7 };

fn critic_spec() -> MlpSpec {
    MlpSpec::new(ACT_DIM + OBS_DIM, &HIDDEN, 1, Activation::Relu)
}

/// A fresh policy on the GPU and the same network on the CPU.
fn policy(seed: u64, architecture: Architecture) -> (VelocityNet, VelocityParams) {
    let spec = policy_spec(architecture);
    let net = VelocityNet::new(gpu(), &spec, seed).unwrap();
    let params = VelocityParams { spec, params: read(net.params()), frequencies: read(&net.frequencies) };
    (net, params)
}

/// A twin critic on the GPU whose targets differ from its online heads (as they do after
/// any training), and the same on the CPU.
fn critic(seed: u64) -> (TwinCritic, TwinCriticParams) {
    let spec = critic_spec();
    let online = [spec.init_params(seed), spec.init_params(seed + 1)];
    let target = [spec.init_params(seed + 2), spec.init_params(seed + 3)];
    let gpu_critic = TwinCritic::from_params(gpu(), &spec, &online, &target).unwrap();
    (gpu_critic, TwinCriticParams { spec, online, target })
}

fn read(buffer: &GpuBuffer) -> Vec<f32> {
    buffer.read(gpu()).unwrap()
}

/// Asserts the stated tolerance and prints the largest error, for the record.
fn check(what: &str, got: &[f32], want: &[f32]) {
    eprintln!("{what}: max relative error {:.2e}", common::max_error(got, want));
    common::assert_close(what, got, want, TOLERANCE);
}

/// Gradients are often far below one, where an error relative to 1 + |value| says little,
/// so they are compared in units of the largest of them.
fn check_gradients(what: &str, got: &[f32], want: &[f32]) {
    let largest = want.iter().fold(0.0f32, |top, g| top.max(g.abs()));
    assert!(largest > 0.0, "{what}: every gradient is zero");
    let in_units = |grads: &[f32]| grads.iter().map(|g| g / largest).collect::<Vec<_>>();
    check(&format!("{what} (in units of the largest, {largest:.2e})"), &in_units(got), &in_units(want));
}

/// Compares trained parameters, after making sure training moved them by about a learning
/// rate (Adam's step size), so that agreeing after the step means something.
fn check_trained(what: &str, got: &[f32], want: &[f32], initial: &[f32]) {
    let moved = want.iter().zip(initial).fold(0.0f32, |top, (a, b)| top.max((a - b).abs()));
    assert!(moved > 0.5 * LR as f32, "{what}: the reference moved no parameter by more than {moved:.2e}");
    check(what, got, want);
}

#[test]
fn behaviour_step_matches_reference() {
    behaviour_steps_match_reference(Architecture::Mlp);
}

#[test]
fn behaviour_step_of_the_residual_network_matches_reference() {
    behaviour_steps_match_reference(RESNET);
}

fn behaviour_steps_match_reference(architecture: Architecture) {
    let data = dataset(LEN);
    let on_gpu = GpuDataset::upload(gpu(), &data).unwrap();
    let (net, mut cpu_net) = policy(5, architecture);
    let initial = cpu_net.params.clone();
    let zeros = vec![0.0; LEN];
    let energies = GpuBuffer::from_slice(gpu(), "zero energies", &zeros).unwrap();
    let table = EfmTable { len: LEN, points: &on_gpu.actions, energies: &energies, cond: Some(&on_gpu.observations) };
    // Clipping on, so the global gradient norm is part of what is compared.
    let adam = AdamConfig { lr: LR, max_grad_norm: 0.5, ..Default::default() };
    let config = EfmConfig { batch: BATCH, beta: 0.0, group: 0, adam };
    let mut trainer = EfmTrainer::new(gpu(), &net, table, config.clone(), SEED, STEPS).unwrap();
    let mut rec = Recorder::new(gpu());
    for _ in 0..STEPS {
        trainer.record_step(&mut rec, &net);
    }
    rec.submit_and_wait().unwrap();

    let mut reference = cpu::EfmReference::new(config, cpu_net.params.len(), SEED);
    let cpu_table = cpu::EfmTable { points: &data.actions, energies: &zeros, cond: &data.observations };
    let steps: Vec<_> = (0..STEPS).map(|_| reference.step(&mut cpu_net, &cpu_table)).collect();
    assert_eq!(trainer.rng, reference.rng, "the streams advanced differently");

    let losses: Vec<f32> = steps.iter().map(|s| s.loss).collect();
    check("behaviour losses", &read(&trainer.flow.losses), &losses);
    check_gradients("behaviour gradients", &read(net.grads()), &steps[STEPS - 1].grads);
    check_trained("behaviour parameters", &read(net.params()), &cpu_net.params, &initial);
}

/// With `policy_net.ema`, every Adam step also moves the average of the weights:
/// ema ← (1 - decay)·θ + decay·ema, in the update's dispatch. The CPU side applies the same
/// formula after each reference step.
#[test]
fn weight_average_follows_the_reference_steps() {
    let decay = 0.75;
    let data = dataset(LEN);
    let on_gpu = GpuDataset::upload(gpu(), &data).unwrap();
    let (net, mut cpu_net) = policy(11, RESNET);
    let zeros = vec![0.0; LEN];
    let energies = GpuBuffer::from_slice(gpu(), "zero energies", &zeros).unwrap();
    let table = EfmTable { len: LEN, points: &on_gpu.actions, energies: &energies, cond: Some(&on_gpu.observations) };
    let config = EfmConfig { batch: BATCH, beta: 0.0, group: 0, adam: AdamConfig { lr: LR, ..Default::default() } };
    let averaged = Averaged::new(gpu(), net, decay).unwrap();
    let mut trainer = EfmTrainer::new(gpu(), &averaged.online, table, config.clone(), SEED, STEPS).unwrap();
    averaged.follow(gpu(), &mut trainer.flow.adam).unwrap();
    let mut rec = Recorder::new(gpu());
    for _ in 0..STEPS {
        trainer.record_step(&mut rec, &averaged.online);
    }
    rec.submit_and_wait().unwrap();

    let mut reference = cpu::EfmReference::new(config, cpu_net.params.len(), SEED);
    let cpu_table = cpu::EfmTable { points: &data.actions, energies: &zeros, cond: &data.observations };
    let mut average = cpu_net.params.clone();
    let tau = (1.0 - decay) as f32;
    for _ in 0..STEPS {
        reference.step(&mut cpu_net, &cpu_table);
        average.iter_mut().zip(&cpu_net.params).for_each(|(a, &p)| *a = tau * p + (1.0 - tau) * *a);
    }
    let ema = averaged.ema.as_ref().expect("an average");
    check("averaged weights", &read(ema.params()), &average);
    check("trained weights", &read(averaged.online.params()), &cpu_net.params);
    assert_ne!(read(ema.params()), read(averaged.online.params()), "the average lags the trained weights");
    assert!(std::ptr::eq(averaged.used(), ema), "the average is what the run uses");
}

#[test]
fn support_sampler_matches_reference() {
    support_samples_match_reference(Architecture::Mlp);
}

#[test]
fn support_sampler_of_the_residual_network_matches_reference() {
    support_samples_match_reference(RESNET);
}

fn support_samples_match_reference(architecture: Architecture) {
    let states = random(9, TWO_CHUNKS * OBS_DIM, 1.0);
    let states_gpu = GpuBuffer::from_slice(gpu(), "states", &states).unwrap();
    let (net, cpu_net) = policy(6, architecture);
    // The critic's layout: M actions for every next state, one dense block per state.
    let samples = GpuBuffer::zeros(gpu(), "support actions", TWO_CHUNKS * M * ACT_DIM).unwrap();
    let layout = SupportLayout::alone(M);
    let sampler = SupportSampler::new(gpu(), &net, &states_gpu, TWO_CHUNKS, &samples, layout, EULER_STEPS).unwrap();
    let mut gpu_rng = RngStream::new(SEED, streams::SUPPORT);
    let mut rec = Recorder::new(gpu());
    sampler.record_all(&mut rec, &net, &mut gpu_rng);
    rec.submit_and_wait().unwrap();

    let mut cpu_rng = RngStream::new(SEED, streams::SUPPORT);
    let want = cpu::sample_support(&cpu_net, &states, M, EULER_STEPS, &mut cpu_rng);
    assert_eq!(gpu_rng, cpu_rng, "the support stream advanced differently");
    let got = read(&samples);
    check("support actions", &got, &want);
    // Untrained, the flow leaves many samples outside the bounds: the clip must be exercised.
    let clipped = want.iter().filter(|x| x.abs() == 1.0).count();
    assert!(clipped > 0 && got.iter().all(|x| x.abs() <= 1.0), "{clipped} samples clipped");
}

/// Two steps of the softmax or the IQL critic on both sides.
fn critic_steps_match_reference(kind: CriticKind) {
    let data = dataset(LEN);
    let on_gpu = GpuDataset::upload(gpu(), &data).unwrap();
    // Random support actions, the same on both sides, so that this stage is tested alone.
    let next_support = random(8, LEN * M * ACT_DIM, 1.0);
    let next_support_gpu = GpuBuffer::from_slice(gpu(), "next-state support", &next_support).unwrap();
    let (gpu_critic, mut cpu_critic) = critic(10);
    let initial = cpu_critic.online.clone();
    let value_spec = MlpSpec::new(OBS_DIM, &HIDDEN, 1, Activation::Relu);
    let value_params = value_spec.init_params(20);
    let iql = kind == CriticKind::Iql;
    let value = iql.then(|| Mlp::from_params(gpu(), &value_spec, &value_params).unwrap());
    // A large Polyak rate and a sharp softmax, so that both visibly shape the result.
    let config = CriticConfig { kind, batch: BATCH, lr: LR, tau: 0.25, alpha_q: 2.0, ..Default::default() };
    let at = StageContext { gpu: gpu(), data: &on_gpu, seed: SEED, ring_len: STEPS };
    let mut trainer = CriticTrainer::new(at, &next_support_gpu, M, &gpu_critic, value, &config).unwrap();
    let mut rec = Recorder::new(gpu());
    for _ in 0..STEPS {
        trainer.record_step(&mut rec, &gpu_critic);
    }
    rec.submit_and_wait().unwrap();

    let cpu_value = iql.then(|| (value_spec.clone(), value_params.clone()));
    let mut reference = cpu::CriticReference::new(&config, &cpu_critic, cpu_value, M, SEED);
    let steps: Vec<_> = (0..STEPS).map(|_| reference.step(&mut cpu_critic, &data, &next_support)).collect();
    assert_eq!(trainer.sampler.rng, reference.rng, "the minibatch stream advanced differently");

    let name = format!("{kind:?} critic");
    let stats: Vec<f32> = steps.iter().flat_map(|s| s.stats).collect();
    // Each slot of the GPU's ring also holds Q2's mean; pick the statistics of the twin.
    let ring = read(&trainer.stats);
    let picked: Vec<f32> =
        ring.chunks(stats_width(1)).flat_map(|slot| CriticStat::ALL.map(|k| slot[stat_index(k, 1, 0)])).collect();
    let names = CriticStat::ALL.map(CriticStat::name);
    check(&format!("{name} statistics {names:?}"), &picked, &stats);
    let last = &steps[STEPS - 1];
    // The GPU heads are the two copies of one network, stored back to back.
    let head = gpu_critic.spec.param_count();
    let (grads, params) = (read(&gpu_critic.online.grads), read(&gpu_critic.online.params));
    let targets = read(&gpu_critic.target.params);
    for (k, initial) in initial.iter().enumerate() {
        let part = |all: &[f32]| all[k * head..(k + 1) * head].to_vec();
        check_gradients(&format!("{name} head {k} gradients"), &part(&grads), &last.grads[k]);
        check_trained(&format!("{name} head {k}"), &part(&params), &cpu_critic.online[k], initial);
        check(&format!("{name} head {k} target"), &part(&targets), &cpu_critic.target[k]);
    }
    let gpu_value = trainer.value_parts().map(|(value, _)| (read(&value.grads), read(&value.params)));
    assert_eq!(gpu_value.is_some(), iql, "only the IQL critic has a value network");
    if let (Some((grads, params)), Some(cpu_value)) = (gpu_value, &reference.value) {
        check_gradients(&format!("{name} value gradients"), &grads, last.value_grads.as_ref().unwrap());
        check_trained(&format!("{name} value network"), &params, &cpu_value.params, &value_params);
    }
}

#[test]
fn softmax_critic_step_matches_reference() {
    critic_steps_match_reference(CriticKind::Softmax);
}

#[test]
fn iql_critic_step_matches_reference() {
    critic_steps_match_reference(CriticKind::Iql);
}

/// A renewal and two improvement steps on a dataset of `len` transitions, on both sides.
fn improver_matches_reference(len: usize, architecture: Architecture) {
    let data = dataset(len);
    let on_gpu = GpuDataset::upload(gpu(), &data).unwrap();
    let (policy, mut cpu_policy) = policy(7, architecture);
    let initial = cpu_policy.params.clone();
    let (critic, cpu_critic) = critic(30);
    let config = PolicyConfig { batch: BATCH, lr: LR, beta: 3.0, ..Default::default() };
    let at = StageContext { gpu: gpu(), data: &on_gpu, seed: SEED, ring_len: STEPS };
    let support = SupportConfig { actions: M, euler_steps: EULER_STEPS };
    let mut improver = PolicyImprover::new(at, &policy, &policy, &critic, &config, &support).unwrap();
    let mut rec = Recorder::new(gpu());
    improver.record_renewal(&mut rec, &policy, &critic);
    rec.submit_and_wait().unwrap();
    let renewed = [read(&improver.support), read(&improver.q_values), read(&improver.weights)];
    let mut rec = Recorder::new(gpu());
    for _ in 0..STEPS {
        improver.record_step(&mut rec, &policy);
    }
    rec.submit_and_wait().unwrap();

    let mut reference = cpu::ImproverReference::new(&data, &cpu_policy, &config, M, EULER_STEPS, SEED);
    reference.renew(&cpu_policy, &cpu_critic, &data);
    let what = format!("{len} states");
    check(&format!("{what}: renewed support sets"), &renewed[0], &reference.support);
    check(&format!("{what}: support Q values"), &renewed[1], &reference.q_values);
    check(&format!("{what}: support weights"), &renewed[2], &reference.weights);

    let steps: Vec<_> = (0..STEPS).map(|_| reference.step(&mut cpu_policy, &data)).collect();
    let streams = |r: &ImproveRng| [r.minibatch, r.noise, r.time, r.support];
    assert_eq!(streams(&improver.rng), streams(&reference.rng), "the improver's streams advanced differently");
    let losses: Vec<f32> = steps.iter().map(|s| s.loss).collect();
    check(&format!("{what}: improvement losses"), &read(&improver.flow.losses), &losses);
    check_gradients(&format!("{what}: improvement gradients"), &read(policy.grads()), &steps[STEPS - 1].grads);
    check_trained(&format!("{what}: improved policy"), &read(policy.params()), &cpu_policy.params, &initial);
}

#[test]
fn policy_renewal_and_step_match_reference() {
    improver_matches_reference(LEN, Architecture::Mlp);
}

#[test]
fn residual_policy_renewal_and_step_match_reference() {
    improver_matches_reference(LEN, RESNET);
}

#[test]
fn policy_renewal_spanning_two_chunks_matches_reference() {
    improver_matches_reference(TWO_CHUNKS, Architecture::Mlp);
}
