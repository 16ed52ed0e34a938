//! Median stopping (Google Vizier, Golovin et al. 2017): at every epoch
//! from `after_epochs` on, a trial stops when its best value so far is
//! strictly worse than the median, over the sweep's other trials that
//! reached that epoch (in any state, like Ray Tune's `MedianStoppingRule`;
//! Vizier counts completed trials only), of their running averages up to
//! that epoch. Nothing stops before `min_trials` other trials reached the
//! epoch.

use super::early_stop::Decision;
use super::epoch_count::EpochCount;
use super::metric::{best_until, better_first, Curve};
use crate::sweepfile::Goal;
use serde::{Deserialize, Serialize};

/// Median stopping's settings, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Median {
    pub metric: String,
    pub goal: Goal,
    /// The first epoch a trial may be stopped at (≥ 1).
    pub after_epochs: u32,
    /// Other trials that must have reached an epoch before it stops anyone.
    pub min_trials: u32,
    /// Which epochs `after_epochs` counts (absent in sweeps stored before it: all).
    #[serde(default)]
    pub epochs: EpochCount,
}

impl Median {
    /// Judges each epoch among `new` (sorted, below the trial's end) from
    /// `after_epochs` on; the first it fails stops the trial.
    pub fn decide(&self, new: &[u32], own: &Curve, others: &[Curve]) -> Option<Decision> {
        for &epoch in new.iter().filter(|e| **e >= self.after_epochs) {
            let Some((_, best)) = best_until(own, self.goal, epoch) else {
                continue;
            };
            let mut averages: Vec<f64> = others
                .iter()
                .filter(|c| c.iter().any(|(e, _)| *e == epoch))
                .map(|c| running_average(c, epoch))
                .collect();
            if averages.len() < self.min_trials.max(1) as usize {
                continue;
            }
            averages.sort_by(|a, b| better_first(self.goal, *a, *b));
            let median = median_of_sorted(&averages);
            if better_first(self.goal, best, median).is_gt() {
                return Some(Decision {
                    epoch,
                    reason: format!(
                        "stopped by median stopping at epoch {}: best {} {best:.4} worse than the median {median:.4} of {} trials' running averages",
                        self.epochs.name(epoch),
                        self.metric,
                        averages.len()
                    ),
                });
            }
        }
        None
    }
}

/// The mean of the curve's values up to `epoch` (non-finite ones make it
/// non-finite, hence worst).
fn running_average(curve: &[(u32, f64)], epoch: u32) -> f64 {
    let values: Vec<f64> = curve
        .iter()
        .filter(|(e, _)| *e <= epoch)
        .map(|(_, v)| *v)
        .collect();
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The median of values sorted best first (non-finite last); with an even
/// count, the mean of the middle two (the worse one if it is not finite).
fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
        if b.is_finite() {
            (a + b) / 2.0
        } else {
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn median() -> Median {
        Median {
            metric: "val_acc".into(),
            goal: Goal::Maximize,
            after_epochs: 2,
            min_trials: 3,
            epochs: EpochCount::All,
        }
    }

    #[test]
    fn below_the_median_of_running_averages_stops() {
        let others = vec![
            vec![(1, 0.4), (2, 0.6)], // average 0.5
            vec![(1, 0.6), (2, 0.8)], // 0.7
            vec![(1, 0.8), (2, 1.0)], // 0.9
        ];
        let m = median();
        // Epoch 1 is before after_epochs.
        assert!(m.decide(&[1], &vec![(1, 0.0)], &others).is_none());
        assert!(m
            .decide(&[2], &vec![(1, 0.2), (2, 0.71)], &others)
            .is_none());
        let d = m.decide(&[2], &vec![(1, 0.2), (2, 0.69)], &others).unwrap();
        assert_eq!(d.epoch, 2);
        // Too few others at epoch 2.
        assert!(m
            .decide(&[2], &vec![(1, 0.2), (2, 0.0)], &others[..2])
            .is_none());
        assert_eq!(median_of_sorted(&[3.0, 2.0, 1.0, 0.0]), 1.5);
    }
}
