//! The checked `early_stop:` of a sweep file (stored with the sweep as
//! JSON) and the one entry point the store calls after a heartbeat:
//! [`EarlyStop::decide`], which looks at the epochs this heartbeat brought
//! against every other trial's curve and says whether the trial stops.

use super::epoch_count::EpochCount;
use super::metric::Curve;
use super::{asha, median};
use crate::sweepfile::Goal;
use serde::{Deserialize, Serialize};

/// Which early stopping a sweep uses, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EarlyStop {
    Asha(asha::Asha),
    Median(median::Median),
}

/// A trial the coordinator stops: why, and at which epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The epoch whose value decided (a rung for ASHA).
    pub epoch: u32,
    /// One sentence: `stopped by ASHA at rung 3: val_acc 0.5120 not in the top 1/3 of 7`.
    pub reason: String,
}

impl EarlyStop {
    /// The metric this early stopping watches.
    pub fn metric(&self) -> &str {
        match self {
            EarlyStop::Asha(a) => &a.metric,
            EarlyStop::Median(m) => &m.metric,
        }
    }

    /// Its goal.
    pub fn goal(&self) -> Goal {
        match self {
            EarlyStop::Asha(a) => a.goal,
            EarlyStop::Median(m) => m.goal,
        }
    }

    /// Which epochs it counts.
    pub fn epochs(&self) -> EpochCount {
        match self {
            EarlyStop::Asha(a) => a.epochs,
            EarlyStop::Median(m) => m.epochs,
        }
    }

    /// Whether it judges a running trial at every heartbeat, not only at
    /// the heartbeats that bring epochs (ASHA's `rejudge`).
    pub fn rejudges(&self) -> bool {
        matches!(self, EarlyStop::Asha(a) if a.rejudge)
    }

    /// Whether the trial whose curve is `own` (its latest attempt) stops now,
    /// given the epochs `new` this heartbeat brought and the curves of the
    /// sweep's other trials (`others`, any state); with
    /// [`EarlyStop::rejudges`], also judging again the epochs of `own` it
    /// reached before, knowing which other trials are still open (`open`:
    /// pending or running, their curves). `total_epochs` is the
    /// trial's length: nothing stops at its last epoch (there is nothing
    /// left to save). Curves, epochs and length are on the rule's count
    /// ([`EarlyStop::epochs`]), and so is the decision's epoch.
    pub fn decide(
        &self,
        new: &[u32],
        own: &Curve,
        others: &[Curve],
        open: &[Curve],
        total_epochs: u32,
    ) -> Option<Decision> {
        let mut new: Vec<u32> = new.iter().copied().filter(|e| *e < total_epochs).collect();
        new.sort_unstable();
        new.dedup();
        match self {
            EarlyStop::Asha(a) => a.decide(&new, own, others).or_else(|| {
                let passed: Vec<u32> = own
                    .iter()
                    .map(|(e, _)| *e)
                    .filter(|e| *e < total_epochs && !new.contains(e))
                    .collect();
                a.rejudge
                    .then(|| a.judge_again(&passed, own, others, open))
                    .flatten()
            }),
            EarlyStop::Median(m) => m.decide(&new, own, others),
        }
    }
}
