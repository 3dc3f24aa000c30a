//! The statistics a critic step reports, shared by the GPU trainer and its CPU twin.

/// The statistics of one critic step: what the GPU trainer writes into its slot of the stats
/// ring and the CPU twin returns, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriticStat {
    Q1Loss,
    Q2Loss,
    /// Q1's mean over the minibatch.
    QMean,
    /// The mean TD target.
    TargetMean,
    /// IQL's expectile loss of V (0 for the softmax critic).
    ValueLoss,
}

impl CriticStat {
    pub const ALL: [CriticStat; 5] =
        [CriticStat::Q1Loss, CriticStat::Q2Loss, CriticStat::QMean, CriticStat::TargetMean, CriticStat::ValueLoss];

    /// Its place in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in the metrics.
    pub fn name(self) -> &'static str {
        match self {
            CriticStat::Q1Loss => "q1_loss",
            CriticStat::Q2Loss => "q2_loss",
            CriticStat::QMean => "q_mean",
            CriticStat::TargetMean => "target_mean",
            CriticStat::ValueLoss => "value_loss",
        }
    }
}
