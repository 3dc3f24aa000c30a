//! What the stages of a run write to metrics.jsonl: one struct per kind of record, each
//! field a key of the record (`stage`, `step` and `time_s` are added by the log). Absent
//! options leave their keys out, so a record holds only what its step measured.

use serde::{Deserialize, Serialize};

use crate::eval::EvalReport;
use crate::stats::mean;

/// A stage's metrics of one logging interval or renewal, for one seed.
pub trait StageMetrics: Serialize {
    /// The values that must be finite, each with the name a divergence error gives it, in
    /// the order they are checked.
    fn finite_checks(&self) -> Vec<(&'static str, f64)>;

    /// The progress bar's note on every seed's metrics.
    fn progress(all: &[Self]) -> String
    where
        Self: Sized;
}

/// The mean over seeds of one value, for the progress bar.
fn mean_over<T>(all: &[T], value: impl Fn(&T) -> f64) -> f64 {
    mean(&all.iter().map(value).collect::<Vec<_>>())
}

/// Behaviour pretraining: the mean flow-matching loss of the interval's steps.
#[derive(Clone, Debug, Serialize)]
pub struct FlowLoss {
    pub loss: f64,
}

impl StageMetrics for FlowLoss {
    fn finite_checks(&self) -> Vec<(&'static str, f64)> {
        vec![("the flow-matching loss", self.loss)]
    }

    fn progress(all: &[Self]) -> String {
        format!("loss {:.4}", mean_over(all, |m| m.loss))
    }
}

/// The support stage: how fast the behaviour policy's actions were sampled.
#[derive(Clone, Debug, Serialize)]
pub struct SupportSpeed {
    pub actions_per_s: f64,
}

/// The critic: means over the interval's steps of each head's loss, Q1's mean value, the
/// mean TD target and (IQL) the value network's expectile loss; after the last step, the
/// probe of the finished critic.
#[derive(Clone, Debug, Serialize)]
pub struct CriticMetrics {
    pub q1_loss: f64,
    pub q2_loss: f64,
    pub q_mean: f64,
    pub target_mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_loss: Option<f64>,
    #[serde(flatten)]
    pub probe: Option<CriticProbe>,
}

impl StageMetrics for CriticMetrics {
    fn finite_checks(&self) -> Vec<(&'static str, f64)> {
        let mut checks = vec![
            ("q1_loss", self.q1_loss),
            ("q2_loss", self.q2_loss),
            ("q_mean", self.q_mean),
            ("target_mean", self.target_mean),
        ];
        checks.extend(self.value_loss.map(|v| ("value_loss", v)));
        checks
    }

    fn progress(all: &[Self]) -> String {
        format!("q1 loss {:.4} Q {:.2}", mean_over(all, |m| m.q1_loss), mean_over(all, |m| m.q_mean))
    }
}

/// How the critic rates actions off the data against the data's own, at probe states (see
/// [`super::diagnostics::critic_probe`]).
#[derive(Clone, Debug, Serialize)]
pub struct CriticProbe {
    pub q_probe_data: f64,
    pub q_probe_random: f64,
    pub q_probe_data_wins: f64,
}

/// Policy improvement: a logging interval's mean loss, or a renewal's statistics.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ImprovementMetrics {
    Steps(FlowLoss),
    Renewal(RenewalMetrics),
}

impl StageMetrics for ImprovementMetrics {
    fn finite_checks(&self) -> Vec<(&'static str, f64)> {
        match self {
            Self::Steps(m) => vec![("the weighted flow-matching loss", m.loss)],
            Self::Renewal(m) => vec![("the support Q values", m.weights.q_policy_mean)],
        }
    }

    fn progress(all: &[Self]) -> String {
        // The seeds' records are all of one kind.
        let headline = |m: &Self| match m {
            Self::Steps(m) => m.loss,
            Self::Renewal(m) => m.weights.q_policy_mean,
        };
        match all.first() {
            Some(Self::Renewal(_)) => format!("Q policy {:.3}", mean_over(all, headline)),
            _ => format!("loss {:.4}", mean_over(all, headline)),
        }
    }
}

/// The support sets after a renewal.
#[derive(Clone, Debug, Serialize)]
pub struct RenewalMetrics {
    #[serde(flatten)]
    pub weights: SupportWeights,
    #[serde(flatten)]
    pub drift: SupportDrift,
}

/// Means over states of the Q values and weights of the support sets: the dataset action's Q,
/// the sampled actions' mean Q, the weights' entropy and effective sample size, and the
/// dataset action's weight.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupportWeights {
    pub q_data_mean: f64,
    pub q_policy_mean: f64,
    pub weight_entropy: f64,
    pub weight_ess: f64,
    pub weight_dataset_action: f64,
}

/// How far the sampled support actions lie from the dataset's (see
/// [`super::diagnostics::support_drift`]).
#[derive(Clone, Debug, Serialize)]
pub struct SupportDrift {
    pub action_distance: f64,
    pub action_at_bound: f64,
}

/// An evaluation in the environment: mean return and D4RL score, the spread of the episodes'
/// scores (guidance that helps some episodes and wrecks others shows here first; the plot
/// draws it as a bar around eval_score) and, in antmaze, the success rate.
#[derive(Clone, Debug, Serialize)]
pub struct EvalMetrics {
    pub eval_return: f64,
    pub eval_score: f64,
    pub eval_score_min: f64,
    pub eval_score_max: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_success_rate: Option<f64>,
}

impl EvalMetrics {
    pub fn of(report: &EvalReport) -> Self {
        Self {
            eval_return: report.return_mean,
            eval_score: report.score_mean,
            eval_score_min: report.scores.iter().copied().fold(f64::INFINITY, f64::min),
            eval_score_max: report.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            eval_success_rate: report.success_rate,
        }
    }
}

/// One record as the driver writes it: a stage's metrics, the speed of the steps they cover
/// and the evaluation made there, if any.
#[derive(Serialize)]
pub struct Record<'a, M> {
    #[serde(flatten)]
    pub metrics: &'a M,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_s: Option<f64>,
    #[serde(flatten)]
    pub eval: Option<EvalMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys a record of `metrics` has in metrics.jsonl, in the order they are written.
    fn keys<M: Serialize>(metrics: &M, steps_per_s: Option<f64>, eval: Option<EvalMetrics>) -> Vec<String> {
        let record = serde_json::to_value(Record { metrics, steps_per_s, eval }).unwrap();
        record.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn records_have_the_keys_the_tools_read() {
        let eval = EvalMetrics {
            eval_return: 1.0,
            eval_score: 2.0,
            eval_score_min: 1.5,
            eval_score_max: 2.5,
            eval_success_rate: None,
        };
        assert_eq!(
            keys(&FlowLoss { loss: 1.0 }, Some(10.0), Some(eval.clone())),
            ["eval_return", "eval_score", "eval_score_max", "eval_score_min", "loss", "steps_per_s"]
        );
        let antmaze = EvalMetrics { eval_success_rate: Some(0.5), ..eval };
        assert!(keys(&FlowLoss { loss: 1.0 }, None, Some(antmaze)).contains(&"eval_success_rate".to_string()));

        let mut critic =
            CriticMetrics { q1_loss: 1.0, q2_loss: 2.0, q_mean: 3.0, target_mean: 4.0, value_loss: None, probe: None };
        assert_eq!(keys(&critic, Some(1.0), None), ["q1_loss", "q2_loss", "q_mean", "steps_per_s", "target_mean"]);
        critic.value_loss = Some(5.0);
        critic.probe = Some(CriticProbe { q_probe_data: 1.0, q_probe_random: 0.0, q_probe_data_wins: 0.9 });
        assert_eq!(
            keys(&critic, None, None),
            [
                "q1_loss",
                "q2_loss",
                "q_mean",
                "q_probe_data",
                "q_probe_data_wins",
                "q_probe_random",
                "target_mean",
                "value_loss"
            ]
        );

        let weights = SupportWeights {
            q_data_mean: 1.0,
            q_policy_mean: 2.0,
            weight_entropy: 0.5,
            weight_ess: 3.0,
            weight_dataset_action: 0.2,
        };
        let drift = SupportDrift { action_distance: 0.1, action_at_bound: 0.0 };
        let renewal = ImprovementMetrics::Renewal(RenewalMetrics { weights, drift });
        assert_eq!(
            keys(&renewal, None, None),
            [
                "action_at_bound",
                "action_distance",
                "q_data_mean",
                "q_policy_mean",
                "weight_dataset_action",
                "weight_entropy",
                "weight_ess"
            ]
        );
        assert_eq!(keys(&ImprovementMetrics::Steps(FlowLoss { loss: 1.0 }), Some(1.0), None), ["loss", "steps_per_s"]);
    }
}
