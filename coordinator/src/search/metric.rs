//! An early-stopping metric: its value in one epoch's metrics, and which of
//! two values is better under a goal. Non-finite values are the worst.

use crate::sweepfile::Goal;
use std::cmp::Ordering;
use sweep_proto::trial::EpochMetrics;

/// One trial's curve of the early-stopping metric: (epoch, value), by epoch.
/// Epochs are numbered from 1 across both phases.
pub type Curve = Vec<(u32, f64)>;

/// The value of ranking metric `name` in `e`; NaN for an unknown name.
pub fn value(e: &EpochMetrics, name: &str) -> f64 {
    match name {
        "val_acc" => e.val_acc,
        "val_nll" | "val_loss" => e.val_loss,
        "val_ece" => e.val_ece,
        "train_loss" => e.train_loss,
        _ => f64::NAN,
    }
}

/// `a` against `b`: `Less` when `a` is better under `goal`. A non-finite
/// value is worse than any finite one; two non-finite ones are equal.
pub fn better_first(goal: Goal, a: f64, b: f64) -> Ordering {
    match (a.is_finite(), b.is_finite()) {
        (true, true) => match goal {
            Goal::Maximize => b.total_cmp(&a),
            Goal::Minimize => a.total_cmp(&b),
        },
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => Ordering::Equal,
    }
}

/// The curve's value at `epoch`, if it has one.
pub fn at(curve: &[(u32, f64)], epoch: u32) -> Option<f64> {
    curve.iter().find(|(e, _)| *e == epoch).map(|(_, v)| *v)
}

/// The best value of the curve up to `epoch` (included), with its epoch;
/// the earliest of equal values.
pub fn best_until(curve: &[(u32, f64)], goal: Goal, epoch: u32) -> Option<(u32, f64)> {
    curve
        .iter()
        .filter(|(e, _)| *e <= epoch)
        .copied()
        .min_by(|a, b| better_first(goal, a.1, b.1).then(a.0.cmp(&b.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_is_worst_both_ways() {
        assert_eq!(better_first(Goal::Maximize, 0.9, 0.1), Ordering::Less);
        assert_eq!(better_first(Goal::Minimize, 0.9, 0.1), Ordering::Greater);
        assert_eq!(better_first(Goal::Minimize, 5.0, f64::NAN), Ordering::Less);
        assert_eq!(
            better_first(Goal::Maximize, f64::NAN, 0.0),
            Ordering::Greater
        );
        let c = vec![(1, 0.5), (2, 0.7), (3, 0.6)];
        assert_eq!(best_until(&c, Goal::Maximize, 3), Some((2, 0.7)));
        assert_eq!(best_until(&c, Goal::Maximize, 1), Some((1, 0.5)));
        assert_eq!(best_until(&c, Goal::Minimize, 3), Some((1, 0.5)));
    }
}
