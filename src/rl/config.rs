//! The configuration of one QIPO training run, as written to the run's `config.toml`.
//!
//! A run's settings come from three layers, later ones winning: a preset, a TOML config file,
//! and `key=value` overrides with dotted keys (`policy.beta=5`); [`super::presets::resolve`]
//! stacks them. Every field has a default, so a file or an override names only what it
//! changes; unknown keys and values of the wrong type are errors that name the key.

use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use crate::data::normalize::RewardMode;
use crate::envs::spec::EnvSpec;
use crate::eval::scoring::{ScoreMode, Scoring};
use crate::nn::activation::Activation;

/// Everything a QIPO run needs besides its dataset and device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds every random stream of the run (initialisation, minibatches, noise).
    pub seed: u64,
    /// The preset the settings started from; empty when they started from the defaults.
    pub preset: String,
    pub data: DataConfig,
    pub policy_net: PolicyNetConfig,
    pub critic_net: CriticNetConfig,
    pub behaviour: BehaviourConfig,
    pub support: SupportConfig,
    pub critic: CriticConfig,
    pub policy: PolicyConfig,
    pub run: RunConfig,
}

/// How the dataset is prepared before training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// "auto" picks the locomotion scaling or the antmaze shift from the dataset's environment.
    pub reward_normalization: RewardMode,
    /// Standardise observations with the dataset's mean and std (evaluation then does the same).
    pub normalize_observations: bool,
}

/// The kind of network behind the policy's velocity field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PolicyNetKind {
    /// An MLP over [a_t, features of t, s], `hidden` its layers' widths.
    #[default]
    Mlp,
    /// QGPO's residual U-shaped network (src/nn/resnet.rs), `hidden` its down path's widths.
    Resnet,
}

/// The policy: a velocity network v(a_t, t, s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyNetConfig {
    pub kind: PolicyNetKind,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Gaussian Fourier features of t (a sine and a cosine per frequency, so even).
    pub time_features: usize,
    /// Standard deviation of the Fourier frequencies.
    pub time_scale: f64,
    /// `resnet`: width of the state's encoding (QGPO: 32).
    pub cond_width: usize,
    /// `resnet`: width of the time-and-state embedding every block reads (QGPO: 128).
    pub embed_width: usize,
    /// Decay of an exponential moving average of the weights, in [0, 1); 0 keeps none. With
    /// one, the average is what samples support actions and renewals, is evaluated and is
    /// saved as the policy (behaviour pretraining's and improvement's).
    pub ema: f64,
}

/// Each of the two critic heads: an MLP from [s, a] to Q.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CriticNetConfig {
    pub hidden: Vec<usize>,
    pub activation: Activation,
}

/// Stage 1: plain conditional flow matching on the dataset's (s, a) pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BehaviourConfig {
    /// K1, optimisation steps.
    pub steps: u64,
    /// States (and their dataset actions) per step.
    pub batch: usize,
    pub lr: f64,
    /// Largest global gradient norm; 0 disables clipping.
    pub max_grad_norm: f64,
}

/// Stage 2: the support actions sampled from the behaviour policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    /// M, actions sampled per state.
    pub actions: usize,
    /// Euler steps of every sample (here and when the policy renews its support).
    pub euler_steps: usize,
}

/// Which critic stage 3 trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CriticKind {
    /// In-support softmax Q-learning (QGPO): the target averages Q' over the support actions
    /// of s' with weights softmax(alpha_q Q').
    #[default]
    Softmax,
    /// IQL's expectile regression of a value network, an allowed alternative.
    Iql,
}

/// Stage 3: the twin critic with Polyak-averaged targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CriticConfig {
    pub kind: CriticKind,
    /// K2, optimisation steps.
    pub steps: u64,
    /// Transitions per step.
    pub batch: usize,
    pub lr: f64,
    /// Discount.
    pub gamma: f64,
    /// Polyak rate of the target critic.
    pub tau: f64,
    /// Temperature of the in-support softmax over Q'(s', a'_j): 0 averages the support actions
    /// uniformly (evaluates the behaviour policy, SARSA-like), large values approach the
    /// maximum over the support. Softmax critic only.
    pub alpha_q: f64,
    /// The expectile of the value regression, in (0, 1). IQL critic only.
    pub expectile: f64,
}

/// Which policy a renewal draws the M support actions of every state from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportSource {
    /// The policy being improved (the paper's iteration: π_{l+1} ∝ π_l exp(βQ)), so the
    /// guidance compounds renewal after renewal.
    #[default]
    Policy,
    /// The behaviour policy μ at every renewal (QGPO's support): the target stays
    /// μ exp(βQ), and the samples the critic weighs never leave the data's support.
    Behaviour,
}

/// Stage 4: policy improvement with energy weights softmax(beta Q) over support sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// K3, optimisation steps.
    pub steps: u64,
    /// K_renew: the support actions are resampled this often.
    pub renew_every: u64,
    /// Where renewals draw the support actions from.
    pub support_from: SupportSource,
    /// Inverse temperature of the energy weights.
    pub beta: f64,
    /// States per step; each brings its dataset action and its M support actions.
    pub batch: usize,
    pub lr: f64,
}

/// The policy-stage settings in which copies trained in the same dispatches may differ (the
/// cells of a sweep's grid): every other setting, and the stages before, they share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CopySettings {
    pub beta: f64,
    pub lr: f64,
}

impl PolicyConfig {
    /// This stage's per-copy settings.
    pub fn copy_settings(&self) -> CopySettings {
        CopySettings { beta: self.beta, lr: self.lr }
    }

    /// These settings with `copy`'s in place of this stage's own.
    pub fn with_copy_settings(&self, copy: CopySettings) -> Self {
        Self { beta: copy.beta, lr: copy.lr, ..self.clone() }
    }
}

/// Bookkeeping of the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Steps between metric read-backs (each one waits for the GPU).
    pub log_every: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Steps between evaluations in the environment; 0 disables them.
    pub eval_every: u64,
    /// Episodes per evaluation (the periodic ones and the final one).
    pub eval_episodes: usize,
    /// The environment to evaluate in, e.g. "hopper" or "walker2d-v4"; empty: the one the
    /// dataset's file name names, if any (`qipo train` fills it in when it creates the run).
    pub eval_env: EvalEnv,
    /// How evaluation returns become scores: "d4rl" (D4RL's reference returns of the
    /// environment), "reference" (100 (R − ref_min_score) / (ref_max_score − ref_min_score),
    /// a Minari dataset's own references), "return" (unnormalised), or "auto": the
    /// dataset's, which `qipo train` writes here when it creates the run.
    pub score: ScoreMode,
    pub ref_min_score: f64,
    pub ref_max_score: f64,
}

/// `run.eval_env`: the environment a run evaluates in, parsed when the settings are read and
/// written back exactly as it was given (the settings' checksum stays that of the text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EvalEnv {
    name: String,
    spec: Option<EnvSpec>,
}

impl EvalEnv {
    /// Evaluation in `spec`, under its own name.
    pub fn of(spec: EnvSpec) -> Self {
        Self { name: spec.to_string(), spec: Some(spec) }
    }

    /// The environment, if the settings name one.
    pub fn spec(&self) -> Option<EnvSpec> {
        self.spec
    }
}

impl TryFrom<String> for EvalEnv {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let spec = match name.as_str() {
            "" => None,
            text => Some(text.parse::<EnvSpec>()?),
        };
        Ok(Self { name, spec })
    }
}

impl From<EvalEnv> for String {
    fn from(env: EvalEnv) -> String {
        env.name
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { reward_normalization: RewardMode::Auto, normalize_observations: false }
    }
}

impl Default for PolicyNetConfig {
    fn default() -> Self {
        Self {
            kind: PolicyNetKind::Mlp,
            hidden: vec![256, 256, 256],
            activation: Activation::Mish,
            time_features: 32,
            time_scale: 30.0,
            cond_width: 32,
            embed_width: 128,
            ema: 0.0,
        }
    }
}

impl Default for CriticNetConfig {
    fn default() -> Self {
        Self { hidden: vec![256, 256, 256], activation: Activation::Relu }
    }
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self { steps: 200_000, batch: 256, lr: 1e-4, max_grad_norm: 0.0 }
    }
}

impl Default for SupportConfig {
    fn default() -> Self {
        Self { actions: 16, euler_steps: 10 }
    }
}

impl Default for CriticConfig {
    fn default() -> Self {
        Self {
            kind: CriticKind::Softmax,
            steps: 500_000,
            batch: 256,
            lr: 3e-4,
            gamma: 0.99,
            tau: 0.005,
            alpha_q: 1.0,
            expectile: 0.7,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            steps: 100_000,
            renew_every: 20_000,
            support_from: SupportSource::Policy,
            beta: 3.0,
            batch: 256,
            lr: 1e-4,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            log_every: 1000,
            checkpoint_every: 10_000,
            eval_every: 0,
            eval_episodes: 10,
            eval_env: EvalEnv::default(),
            score: ScoreMode::Auto,
            ref_min_score: 0.0,
            ref_max_score: 0.0,
        }
    }
}

impl RunConfig {
    /// How this run's evaluations score their returns.
    pub fn scoring(&self) -> Scoring {
        Scoring::new(self.score, self.ref_min_score, self.ref_max_score)
    }
}

impl TrainConfig {
    /// Parses a whole config from TOML text (missing fields take their defaults) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|e| anyhow!(describe(&e, text, "invalid config")))?;
        check_known_keys(&table, &Self::default().to_table()?, "").context("invalid config")?;
        let config: Self = toml::from_str(text).map_err(|e| anyhow!(describe(&e, text, "invalid config")))?;
        config.validate().context("invalid config")?;
        Ok(config)
    }

    /// The config as TOML, every field written out.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).context("cannot write the config as TOML")
    }

    /// Sets one field from `key=value`, with a dotted key (`policy.beta=5`). The value is read
    /// as a TOML value (`[128, 128]`, `true`, `"text"`), else taken as a bare string
    /// (`critic.kind=iql`). The result is validated.
    pub fn apply_override(&mut self, assignment: &str) -> Result<()> {
        let (key, raw_value) = assignment
            .split_once('=')
            .ok_or_else(|| anyhow!("setting '{assignment}' must have the form key=value, e.g. policy.beta=5"))?;
        let (key, raw_value) = (key.trim(), raw_value.trim());
        ensure!(!key.is_empty(), "setting '{assignment}' has no key before '='");
        ensure!(
            key != "preset",
            "'preset' names where the settings came from and cannot be set; choose the preset itself instead"
        );
        let value = raw_value.parse::<toml::Value>().unwrap_or_else(|_| toml::Value::String(raw_value.to_string()));

        let mut table = self.to_table()?;
        let path: Vec<&str> = key.split('.').collect();
        let slot = lookup_mut(&mut table, &path).ok_or_else(|| anyhow!("unknown setting '{key}'"))?;
        ensure!(!slot.is_table(), "'{key}' is a section; set one of its fields, e.g. {key}.<field>=<value>");
        *slot = value;

        let updated: TrainConfig = table
            .try_into()
            .map_err(|e| anyhow!("invalid value '{raw_value}' for '{key}': {}", one_line(e.message())))?;
        updated.validate()?;
        *self = updated;
        Ok(())
    }

    /// Checks every value, naming the first bad field by its dotted key.
    pub fn validate(&self) -> Result<()> {
        // TOML integers are signed 64-bit: a larger seed could not be written to config.toml.
        ensure!(self.seed <= i64::MAX as u64, "seed must be at most {}", i64::MAX);

        check_hidden("policy_net.hidden", &self.policy_net.hidden)?;
        let features = self.policy_net.time_features;
        ensure!(
            features >= 2 && features.is_multiple_of(2),
            "policy_net.time_features must be even and at least 2 (a sine and a cosine per frequency), got {features}"
        );
        check_positive("policy_net.time_scale", self.policy_net.time_scale)?;
        let ema = self.policy_net.ema;
        ensure!((0.0..1.0).contains(&ema), "policy_net.ema must be in [0, 1) (0 keeps no average), got {ema}");
        if self.policy_net.kind == PolicyNetKind::Resnet {
            check_at_least_one("policy_net.cond_width", self.policy_net.cond_width as u64)?;
            check_at_least_one("policy_net.embed_width", self.policy_net.embed_width as u64)?;
        }
        check_hidden("critic_net.hidden", &self.critic_net.hidden)?;

        check_at_least_one("behaviour.steps", self.behaviour.steps)?;
        check_at_least_one("behaviour.batch", self.behaviour.batch as u64)?;
        check_positive("behaviour.lr", self.behaviour.lr)?;
        check_non_negative("behaviour.max_grad_norm", self.behaviour.max_grad_norm)?;

        check_at_least_one("support.actions", self.support.actions as u64)?;
        check_at_least_one("support.euler_steps", self.support.euler_steps as u64)?;

        let critic = &self.critic;
        check_at_least_one("critic.steps", critic.steps)?;
        check_at_least_one("critic.batch", critic.batch as u64)?;
        check_positive("critic.lr", critic.lr)?;
        ensure!((0.0..1.0).contains(&critic.gamma), "critic.gamma must be in [0, 1), got {}", critic.gamma);
        ensure!(critic.tau > 0.0 && critic.tau <= 1.0, "critic.tau must be in (0, 1], got {}", critic.tau);
        check_non_negative("critic.alpha_q", critic.alpha_q)?;
        ensure!(
            critic.expectile > 0.0 && critic.expectile < 1.0,
            "critic.expectile must be in (0, 1), got {}",
            critic.expectile
        );

        check_at_least_one("policy.steps", self.policy.steps)?;
        check_at_least_one("policy.renew_every", self.policy.renew_every)?;
        check_non_negative("policy.beta", self.policy.beta)?;
        check_at_least_one("policy.batch", self.policy.batch as u64)?;
        check_positive("policy.lr", self.policy.lr)?;

        check_at_least_one("run.log_every", self.run.log_every)?;
        check_at_least_one("run.checkpoint_every", self.run.checkpoint_every)?;
        check_at_least_one("run.eval_episodes", self.run.eval_episodes as u64)?;
        if self.run.score == ScoreMode::Reference {
            let (min, max) = (self.run.ref_min_score, self.run.ref_max_score);
            ensure!(
                min.is_finite() && max.is_finite() && min != max,
                "run.score = \"reference\" needs run.ref_min_score and run.ref_max_score to differ, got {min} and {max}"
            );
        }
        Ok(())
    }

    fn to_table(&self) -> Result<toml::Table> {
        toml::Table::try_from(self).context("cannot convert the config to TOML")
    }
}

/// A config file as read: its table of settings and the preset it names, if any.
pub struct ConfigFile {
    path: std::path::PathBuf,
    table: toml::Table,
    preset: Option<String>,
}

impl ConfigFile {
    /// Reads and checks the file on its own: TOML syntax, unknown keys and value types, with
    /// errors that name the file and, where the parser knows it, the line.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        let in_file = || format!("config file {}", path.display());
        let table: toml::Table = text.parse().map_err(|e| anyhow!(describe(&e, &text, &in_file())))?;
        check_known_keys(&table, &TrainConfig::default().to_table()?, "").with_context(in_file)?;
        // Every field has a default, so a partial file parses on its own: this pass checks the
        // value types with the parser's line numbers.
        let alone: TrainConfig = toml::from_str(&text).map_err(|e| anyhow!(describe(&e, &text, &in_file())))?;
        let preset = table.contains_key("preset").then_some(alone.preset).filter(|name| !name.is_empty());
        Ok(Self { path: path.to_path_buf(), table, preset })
    }

    /// The preset the file names, if any.
    pub fn preset(&self) -> Option<&str> {
        self.preset.as_deref()
    }

    /// The file's settings laid over `base`; the result is validated.
    pub fn apply_to(self, base: TrainConfig) -> Result<TrainConfig> {
        let mut table = base.to_table()?;
        merge(&mut table, self.table);
        let config: TrainConfig =
            table.try_into().map_err(|e| anyhow!("config file {}: {}", self.path.display(), one_line(e.message())))?;
        config.validate().with_context(|| format!("config file {}", self.path.display()))?;
        Ok(config)
    }
}

/// Lays `top` over `base`, section by section (the keys were checked when the file was read).
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(top_inner)) => merge(inner, top_inner),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The value at a dotted path, if every part of it exists.
fn lookup_mut<'a>(table: &'a mut toml::Table, path: &[&str]) -> Option<&'a mut toml::Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get_mut(*first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, toml::Value::Table(inner)) => lookup_mut(inner, rest),
        (false, _) => None,
    }
}

/// Fails on the first key of `table` that `known` (a complete config) does not have.
fn check_known_keys(table: &toml::Table, known: &toml::Table, prefix: &str) -> Result<()> {
    for (key, value) in table {
        let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (known.get(key), value) {
            (None, _) => bail!("unknown setting '{dotted}'"),
            (Some(toml::Value::Table(known_inner)), toml::Value::Table(inner)) => {
                check_known_keys(inner, known_inner, &dotted)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// A TOML error in `source` as one line, with the line number when the error points into `text`.
fn describe(error: &toml::de::Error, text: &str, source: &str) -> String {
    let message = one_line(error.message());
    match error.span() {
        Some(span) => {
            let line = 1 + text.as_bytes()[..span.start.min(text.len())].iter().filter(|&&b| b == b'\n').count();
            format!("{source}, line {line}: {message}")
        }
        None => format!("{source}: {message}"),
    }
}

/// The TOML parser's messages may span several lines; errors here are one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_hidden(key: &str, widths: &[usize]) -> Result<()> {
    ensure!(!widths.is_empty(), "{key} must list at least one layer width");
    if let Some(i) = widths.iter().position(|&w| w == 0) {
        bail!("{key}[{i}] must be at least 1");
    }
    Ok(())
}

fn check_at_least_one(key: &str, value: u64) -> Result<()> {
    ensure!(value >= 1, "{key} must be at least 1");
    Ok(())
}

fn check_positive(key: &str, value: f64) -> Result<()> {
    ensure!(value.is_finite() && value > 0.0, "{key} must be a positive number, got {value}");
    Ok(())
}

fn check_non_negative(key: &str, value: f64) -> Result<()> {
    ensure!(value.is_finite() && value >= 0.0, "{key} must be a number of at least 0, got {value}");
    Ok(())
}
