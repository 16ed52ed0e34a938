//! Learning curves for one chart of every trial: validation accuracy and
//! validation/training loss per epoch, the best trial marked, and the epoch
//! where phase 2 (fine-tuning) starts. At most [`MAX_CURVES`] trials (the
//! best ranked first, then running ones, then the rest in order) of at most
//! [`MAX_POINTS`] epochs each (evenly thinned, the last epoch kept).

use super::SweepView;
use serde::Serialize;
use std::collections::HashMap;
use sweep_proto::trial::EpochMetrics;

/// Most trials drawn.
pub const MAX_CURVES: usize = 200;
/// Most epochs drawn per trial.
pub const MAX_POINTS: usize = 200;

/// One trial's curve.
#[derive(Debug, Serialize)]
pub struct Curve {
    pub trial_id: String,
    pub rank: u32,
    pub state: &'static str,
    pub epoch: Vec<u32>,
    pub val_acc: Vec<Option<f64>>,
    pub val_loss: Vec<Option<f64>>,
    pub train_loss: Vec<Option<f64>>,
}

/// The chart's data.
#[derive(Debug, Serialize)]
pub struct Curves {
    pub curves: Vec<Curve>,
    /// The best trial's id (drawn bold), if any trial is ranked.
    pub best: Option<String>,
    /// The first epoch of phase 2 (of the best trial, else of the first
    /// trial that has one).
    pub phase2_epoch: Option<u32>,
    /// Trials with a curve in the sweep, and how many are drawn.
    pub total: usize,
    pub shown: usize,
}

/// The curves of `view`'s trials.
pub fn curves(view: &SweepView) -> Curves {
    let by_trial: HashMap<&str, &Vec<EpochMetrics>> = view
        .curves
        .iter()
        .map(|(id, epochs)| (id.as_str(), epochs))
        .collect();
    let ranked = view.rows.iter().filter(|r| r.rank > 0);
    let running = view.rows.iter().filter(|r| r.state == "running");
    let rest = view
        .rows
        .iter()
        .filter(|r| r.rank == 0 && r.state != "running");
    let mut chosen = Vec::new();
    for row in ranked.chain(running).chain(rest) {
        if chosen.len() == MAX_CURVES {
            break;
        }
        if let Some(epochs) = by_trial.get(row.trial_id.as_str()) {
            chosen.push(curve(row.trial_id.clone(), row.rank, row.state, epochs));
        }
    }
    let best = view.best().map(|r| r.trial_id.clone());
    let phase2_of = |id: &str| {
        by_trial
            .get(id)
            .and_then(|e| e.iter().find(|m| m.phase >= 2).map(|m| m.epoch))
    };
    let phase2_epoch = best
        .as_deref()
        .and_then(phase2_of)
        .or_else(|| view.curves.iter().find_map(|(id, _)| phase2_of(id)));
    Curves {
        shown: chosen.len(),
        total: by_trial.len(),
        curves: chosen,
        best,
        phase2_epoch,
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn curve(trial_id: String, rank: u32, state: &'static str, epochs: &[EpochMetrics]) -> Curve {
    let kept = thin(epochs.len(), MAX_POINTS);
    let pick = |f: fn(&EpochMetrics) -> f64| -> Vec<Option<f64>> {
        kept.iter().map(|&i| finite(f(&epochs[i]))).collect()
    };
    Curve {
        trial_id,
        rank,
        state,
        epoch: kept.iter().map(|&i| epochs[i].epoch).collect(),
        val_acc: pick(|m| m.val_acc),
        val_loss: pick(|m| m.val_loss),
        train_loss: pick(|m| m.train_loss),
    }
}

/// At most `max` indices of `0..n`, evenly spread, first and last kept.
pub fn thin(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    if max < 2 {
        // Only room for the last epoch (or for nothing).
        return (0..max).map(|_| n - 1).collect();
    }
    let mut kept: Vec<usize> = (0..max).map(|k| k * (n - 1) / (max - 1)).collect();
    kept.dedup();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_the_cap() {
        assert_eq!(thin(5, 10), [0, 1, 2, 3, 4]);
        let kept = thin(1000, 200);
        assert_eq!(kept.len(), 200);
        assert_eq!((kept[0], kept[199]), (0, 999));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
    }
}
