//! Asynchronous successive halving (ASHA; Li et al., MLSys 2020) as a
//! stopping rule, the way Optuna's `SuccessiveHalvingPruner` and Ray Tune's
//! `ASHAScheduler` apply it to trials that run on their own: rungs sit at
//! epochs `min_epochs * reduction_factor^k`; when a trial reaches a rung,
//! its value there is compared with the values of every trial of the sweep
//! that reached that rung before it (in any state), and it continues only
//! if it is among the best `max(1, n / reduction_factor)` of those `n`
//! (itself included; ties continue). The first trial at a rung always
//! continues. `grace`: a rung stops nobody until at least that many trials
//! (this one included) have reached it (Optuna's `bootstrap_count`).
//! `epochs`: which epochs the rungs count ([`EpochCount`]; with `phase2`,
//! rungs sit at phase-2 epochs `min_epochs * reduction_factor^k`).

use super::early_stop::Decision;
use super::epoch_count::EpochCount;
use super::metric::{at, better_first, Curve};
use crate::sweepfile::Goal;
use serde::{Deserialize, Serialize};

/// ASHA's settings, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asha {
    pub metric: String,
    pub goal: Goal,
    /// The first rung, in epochs (≥ 1).
    pub min_epochs: u32,
    /// η ≥ 2: rungs grow by this factor, and 1/η of a rung's trials continue.
    pub reduction_factor: u32,
    /// Trials that must reach a rung before it stops anyone.
    pub grace: u32,
    /// Which epochs the rungs count (absent in sweeps stored before it: all).
    #[serde(default)]
    pub epochs: EpochCount,
}

impl Asha {
    /// Whether `epoch` is a rung.
    pub fn is_rung(&self, epoch: u32) -> bool {
        let mut rung = u64::from(self.min_epochs);
        while rung <= u64::from(epoch) {
            if rung == u64::from(epoch) {
                return true;
            }
            rung *= u64::from(self.reduction_factor);
        }
        false
    }

    /// The highest rung at or below `epoch`.
    pub fn rung_at_or_below(&self, epoch: u32) -> Option<u32> {
        let mut rung = u64::from(self.min_epochs);
        let mut found = None;
        while rung <= u64::from(epoch) {
            found = Some(rung as u32);
            rung *= u64::from(self.reduction_factor);
        }
        found
    }

    /// The rungs below `total_epochs` (where stopping saves something).
    pub fn rungs(&self, total_epochs: u32) -> Vec<u32> {
        (1..total_epochs).filter(|e| self.is_rung(*e)).collect()
    }

    /// Judges each rung among the epochs `new` (sorted, below the trial's
    /// end), lowest first; the first rung it fails stops the trial.
    pub fn decide(&self, new: &[u32], own: &Curve, others: &[Curve]) -> Option<Decision> {
        for &rung in new.iter().filter(|e| self.is_rung(**e)) {
            let Some(mine) = at(own, rung) else { continue };
            let mut values: Vec<f64> = others.iter().filter_map(|c| at(c, rung)).collect();
            values.push(mine);
            let n = values.len();
            if n < self.grace as usize {
                continue;
            }
            let keep = (n / self.reduction_factor as usize).max(1);
            values.sort_by(|a, b| better_first(self.goal, *a, *b));
            let cutoff = values[keep - 1];
            if better_first(self.goal, mine, cutoff).is_gt() {
                return Some(Decision {
                    epoch: rung,
                    reason: format!(
                        "stopped by ASHA at rung {}: {} {mine:.4} not in the top {keep} of {n} trials there (cutoff {cutoff:.4})",
                        self.epochs.name(rung),
                        self.metric
                    ),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asha(grace: u32) -> Asha {
        Asha {
            metric: "val_acc".into(),
            goal: Goal::Maximize,
            min_epochs: 1,
            reduction_factor: 3,
            grace,
            epochs: EpochCount::All,
        }
    }

    #[test]
    fn rungs_grow_geometrically() {
        let a = asha(0);
        assert_eq!(a.rungs(10), [1, 3, 9]);
        assert_eq!(a.rungs(9), [1, 3]);
        assert_eq!(a.rung_at_or_below(8), Some(3));
        let b = Asha {
            min_epochs: 2,
            reduction_factor: 2,
            ..asha(0)
        };
        assert_eq!(b.rungs(20), [2, 4, 8, 16]);
        assert_eq!(b.rung_at_or_below(1), None);
    }

    #[test]
    fn only_the_top_third_continues() {
        let a = asha(0);
        let others: Vec<Curve> = [0.5, 0.6, 0.7, 0.8, 0.9]
            .iter()
            .map(|v| vec![(1, *v)])
            .collect();
        // 6 trials at rung 1: the best 2 continue.
        assert!(a.decide(&[1], &vec![(1, 0.85)], &others).is_none());
        let d = a.decide(&[1], &vec![(1, 0.75)], &others).unwrap();
        assert_eq!(d.epoch, 1);
        assert!(d.reason.contains("top 2 of 6"), "{}", d.reason);
        // The first at a rung continues; the second only if it is the better.
        assert!(a.decide(&[1], &vec![(1, 0.1)], &[]).is_none());
        assert!(a.decide(&[1], &vec![(1, 0.1)], &[vec![(1, 0.2)]]).is_some());
        // Not a rung: nothing judged.
        assert!(a.decide(&[2], &vec![(2, 0.1)], &others).is_none());
        // Grace: fewer than 7 trials at the rung stop nobody.
        assert!(asha(7).decide(&[1], &vec![(1, 0.1)], &others).is_none());
        // Minimize.
        let m = Asha {
            goal: Goal::Minimize,
            ..asha(0)
        };
        assert!(m.decide(&[1], &vec![(1, 0.55)], &others).is_none());
        assert!(m.decide(&[1], &vec![(1, 0.65)], &others).is_some());
        // A non-finite value is the worst.
        assert!(a.decide(&[1], &vec![(1, f64::NAN)], &others).is_some());
    }
}
