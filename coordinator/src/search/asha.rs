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
//! `rejudge`: every heartbeat of a running trial judges again every rung
//! it has passed. A trial let through a rung when few had reached it stops
//! once it cannot be among the best `max(1, m / reduction_factor)` of the
//! `m` trials that will have reached that rung in the end: `m` counted
//! high (those there now, plus every open trial of the sweep not there
//! yet), and later arrivals can only push it down. So a second judgement
//! stops only trials that synchronous successive halving, which judges a
//! rung once every trial reached it, would stop there too. Without it each
//! rung is judged once, when the trial reaches it.

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
    /// Judge passed rungs again at every heartbeat (absent in sweeps stored
    /// before it: once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejudge: bool,
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
        self.first_outside(new, own, others, None)
    }

    /// `rejudge`: judges again each rung among `passed` (epochs the trial
    /// reached at earlier heartbeats, sorted), lowest first. `open`: the
    /// curves of the sweep's other trials still pending or running (empty
    /// for those without epochs), which may reach a rung later.
    pub fn judge_again(
        &self,
        passed: &[u32],
        own: &Curve,
        others: &[Curve],
        open: &[Curve],
    ) -> Option<Decision> {
        self.first_outside(passed, own, others, Some(open))
    }

    /// The first rung among `epochs` where the trial's value is outside the
    /// best `max(1, m / reduction_factor)` of the values there: `m` counts
    /// the trials there, and with `open` (judging again) also those of
    /// `open` not there yet.
    fn first_outside(
        &self,
        epochs: &[u32],
        own: &Curve,
        others: &[Curve],
        open: Option<&[Curve]>,
    ) -> Option<Decision> {
        for &rung in epochs.iter().filter(|e| self.is_rung(**e)) {
            let Some(mine) = at(own, rung) else { continue };
            let mut values: Vec<f64> = others.iter().filter_map(|c| at(c, rung)).collect();
            values.push(mine);
            let there = values.len();
            let coming = open.map_or(0, |o| o.iter().filter(|c| at(c, rung).is_none()).count());
            let most = there + coming;
            let keep = (most / self.reduction_factor as usize).max(1);
            if there < self.grace as usize || there <= keep {
                continue;
            }
            values.sort_by(|a, b| better_first(self.goal, *a, *b));
            let cutoff = values[keep - 1];
            if better_first(self.goal, mine, cutoff).is_gt() {
                let (again, of_most) = match open {
                    Some(_) => (", judged again", format!(", of at most {most}")),
                    None => ("", String::new()),
                };
                return Some(Decision {
                    epoch: rung,
                    reason: format!(
                        "stopped by ASHA at rung {}{again}: {} {mine:.4} not in the top {keep} of {there} trials there{of_most} (cutoff {cutoff:.4})",
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
            rejudge: false,
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

    #[test]
    fn judged_again_a_trial_stops_only_once_it_cannot_make_the_final_cut() {
        let a = asha(0);
        let at1 = |v: f64| vec![(1, v)];
        // Let through as the first at rung 1, now at epoch 2.
        let own = vec![(1, 0.5), (2, 0.6)];
        let better: Vec<Curve> = [0.6, 0.7, 0.8].iter().map(|v| at1(*v)).collect();
        // 4 trials at rung 1, 5 more open: at most 9 reach it, the best 3
        // continue; 3 are better already, so 0.5 cannot make it.
        let open = vec![Vec::new(); 5];
        let d = a.judge_again(&[1, 2], &own, &better, &open).unwrap();
        assert_eq!(d.epoch, 1);
        assert!(
            d.reason.contains("top 3 of 4 trials there, of at most 9"),
            "{}",
            d.reason
        );
        // 6 open: at most 10, still the best 3; 8 open: at most 12, the
        // best 4, and 0.5 is 4th of those there: it may still make it.
        assert!(a
            .judge_again(&[1, 2], &own, &better, &vec![Vec::new(); 6])
            .is_some());
        assert!(a
            .judge_again(&[1, 2], &own, &better, &vec![Vec::new(); 8])
            .is_none());
        // Open trials already past the rung are among those there, not to come.
        let past: Vec<Curve> = vec![vec![(1, 0.1)]; 8];
        let mut all = better.clone();
        all.extend(past.iter().cloned());
        assert!(a.judge_again(&[1, 2], &own, &all, &past).is_none());
        // Only rungs are judged; a grace not yet reached stops nobody.
        assert!(a.judge_again(&[2], &own, &better, &open).is_none());
        assert!(asha(5).judge_again(&[1, 2], &own, &better, &open).is_none());
    }
}
