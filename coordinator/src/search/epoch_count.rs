//! Which epochs an early-stopping rule counts (`early_stop.epochs`): every
//! epoch from 1 across both phases (`all`, the default), or phase 2's only,
//! numbered from 1 where phase 2 starts (`phase2`). A rule judges curves on
//! its own count; the store renumbers each trial's epochs onto it (a trial's
//! phase-2 epochs start after its own phase 1, however long) and maps a
//! decision back to the trial's epoch.

use super::metric::Curve;
use serde::{Deserialize, Serialize};

/// The epochs a rule's thresholds (`min_epochs`, `after_epochs`) count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochCount {
    /// Every epoch, 1 … `phase1.epochs + phase2.epochs`.
    #[default]
    All,
    /// Phase 2's epochs, 1 … `phase2.epochs`; phase 1 is never judged.
    Phase2,
}

/// One epoch of a trial's curve as stored: its number (from 1 across both
/// phases), its phase, and the metric's value.
pub type Point = (u32, u32, f64);

/// A trial's curve on a count, and where that count starts in the trial's
/// own epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// (counted epoch, value), by counted epoch.
    pub curve: Curve,
    /// Added to a counted epoch, the trial's epoch.
    pub offset: u32,
}

impl EpochCount {
    /// `points` (one trial, by epoch) on this count.
    pub fn count(self, points: &[Point]) -> Counted {
        match self {
            EpochCount::All => Counted {
                curve: points.iter().map(|(e, _, v)| (*e, *v)).collect(),
                offset: 0,
            },
            EpochCount::Phase2 => {
                // Phase 2 starts after the last phase-1 epoch; a curve with
                // no phase-1 epoch (none stored) counts from its first
                // phase-2 one.
                let last_phase1 = points
                    .iter()
                    .filter(|(_, phase, _)| *phase == 1)
                    .map(|(e, _, _)| *e)
                    .max();
                let first_phase2 = points
                    .iter()
                    .filter(|(_, phase, _)| *phase == 2)
                    .map(|(e, _, _)| *e)
                    .min();
                let offset = last_phase1
                    .or(first_phase2.map(|e| e.saturating_sub(1)))
                    .unwrap_or(0);
                Counted {
                    curve: points
                        .iter()
                        .filter(|(e, phase, _)| *phase == 2 && *e > offset)
                        .map(|(e, _, v)| (e - offset, *v))
                        .collect(),
                    offset,
                }
            }
        }
    }

    /// What a decision's reason calls counted epoch `n`.
    pub fn name(self, n: u32) -> String {
        match self {
            EpochCount::All => format!("{n}"),
            EpochCount::Phase2 => format!("{n} of phase 2"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_two_counts_from_its_own_start() {
        let points = [
            (1, 1, 0.1),
            (2, 1, 0.2),
            (3, 1, 0.3),
            (4, 2, 0.4),
            (5, 2, 0.5),
        ];
        let all = EpochCount::All.count(&points);
        assert_eq!(all.offset, 0);
        assert_eq!(all.curve.len(), 5);
        let p2 = EpochCount::Phase2.count(&points);
        assert_eq!(p2.offset, 3);
        assert_eq!(p2.curve, vec![(1, 0.4), (2, 0.5)]);
        // Still in phase 1: nothing counted yet.
        assert!(EpochCount::Phase2.count(&points[..2]).curve.is_empty());
        // No phase 1 at all: phase 2 starts at epoch 1.
        let only2 = EpochCount::Phase2.count(&[(1, 2, 0.7), (2, 2, 0.8)]);
        assert_eq!((only2.offset, only2.curve.len()), (0, 2));
        // A curve missing its phase-1 epochs counts from its first phase-2
        // one; missing its first phase-2 epoch, from its phase 1.
        let late = EpochCount::Phase2.count(&[(4, 2, 0.4), (5, 2, 0.5)]);
        assert_eq!(late.curve, vec![(1, 0.4), (2, 0.5)]);
        let gap = EpochCount::Phase2.count(&[(1, 1, 0.1), (2, 1, 0.2), (4, 2, 0.4)]);
        assert_eq!(gap.curve, vec![(2, 0.4)]);
        assert_eq!(EpochCount::Phase2.count(&[]).offset, 0);
        assert_eq!(EpochCount::Phase2.name(1), "1 of phase 2");
    }
}
