//! The QIPO paper's D4RL normalised scores (Zhang, Zhang and Gu, ICLR 2025), the target a
//! sweep's results table is read against; as ALGORITHM.md section 5 records them.

/// (task, the paper's QIPO score).
const QIPO_SCORES: [(&str, f64); 10] = [
    ("halfcheetah-medium-v2", 54.2),
    ("hopper-medium-v2", 94.0),
    ("walker2d-medium-v2", 87.6),
    ("halfcheetah-medium-replay-v2", 48.0),
    ("hopper-medium-replay-v2", 101.2),
    ("walker2d-medium-replay-v2", 90.1),
    ("halfcheetah-medium-expert-v2", 94.5),
    ("walker2d-medium-expert-v2", 110.9),
    ("antmaze-umaze-diverse-v2", 76.1),
    ("antmaze-large-diverse-v2", 32.1),
];

/// The paper's QIPO score on `task` (a D4RL task name), if the paper reports one.
pub fn qipo_score(task: &str) -> Option<f64> {
    QIPO_SCORES.iter().find(|(name, _)| *name == task).map(|&(_, score)| score)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_papers_tasks_have_scores() {
        assert_eq!(super::qipo_score("hopper-medium-replay-v2"), Some(101.2));
        assert_eq!(super::qipo_score("hopper-random-v2"), None);
    }
}
