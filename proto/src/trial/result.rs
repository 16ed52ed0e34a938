//! What a trial reports: one [`EpochMetrics`] per epoch while it runs, one
//! [`TrialResult`] at the end. The coordinator ranks on validation metrics
//! only ([`TrialResult::metric`] refuses `test_*` names for that reason).
//!
//! Metric values may be NaN or infinite (a loss that diverged): in JSON they
//! are numbers when finite and the strings `"NaN"`, `"inf"`, `"-inf"`
//! otherwise (see [`super::nonfinite`]). A trial that diverged stops at once
//! and still reports a [`TrialResult`], with [`TrialResult::diverged`] set:
//! its curve up to the divergence is kept, and it ranks after every trial
//! that did not diverge.

use super::nonfinite;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One finished epoch (numbered 1.. across both phases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: u32,
    /// 1 or 2.
    pub phase: u32,
    /// Mean cross-entropy of the epoch's training batches against the true
    /// labels, without label smoothing (the optimised loss includes it), so
    /// trials with different smoothing compare fairly.
    #[serde(with = "nonfinite")]
    pub train_loss: f64,
    #[serde(with = "nonfinite")]
    pub train_acc: f64,
    #[serde(with = "nonfinite")]
    pub val_loss: f64,
    #[serde(with = "nonfinite")]
    pub val_acc: f64,
    /// Expected calibration error, 15 bins.
    #[serde(with = "nonfinite")]
    pub val_ece: f64,
    /// Learning rates at the end of the epoch.
    #[serde(with = "nonfinite")]
    pub lr_backbone: f64,
    #[serde(with = "nonfinite")]
    pub lr_head: f64,
    #[serde(with = "nonfinite")]
    pub wall_s: f64,
}

/// Which pretrained weights a trial started from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneInfo {
    /// File name of the weights.
    pub name: String,
    /// sha256 of the weights file, hex.
    pub sha256: String,
}

/// Wall time and throughput of one phase (training + validation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub phase: u32,
    pub epochs: u32,
    #[serde(with = "nonfinite")]
    pub wall_s: f64,
    /// Training images per second (forward + backward), averaged over the phase.
    #[serde(with = "nonfinite")]
    pub train_images_per_s: f64,
    /// Set when this phase was not computed by this trial: an earlier trial
    /// with the same phase-1 config (same backbone and data bytes, thread
    /// count and worker version) left a snapshot on this worker, and this
    /// trial resumed from it. `wall_s` and `train_images_per_s` are then the
    /// earlier trial's; every metric is the same as if it had run here.
    /// Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// Epochs of this phase whose frozen-prefix outputs (training and
    /// validation) came from another trial instead of being computed here.
    /// Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prefix_shared_epochs: u32,
}

fn is_no_time(s: &f64) -> bool {
    *s == 0.0
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The best-validation weights evaluated on the test split.
pub type TestMetrics = SplitMetrics;

/// The kept (best-validation) weights evaluated on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    #[serde(with = "nonfinite")]
    pub acc: f64,
    #[serde(with = "nonfinite")]
    pub loss: f64,
    /// Expected calibration error, 15 bins.
    #[serde(with = "nonfinite")]
    pub ece: f64,
    #[serde(with = "nonfinite::vec")]
    pub per_class_acc: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// The reliability diagram behind `ece`: the non-empty confidence bins,
    /// each with its mean confidence and accuracy. Absent in results from
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reliability: Vec<ReliabilityBin>,
}

/// One confidence bin of a reliability diagram: predictions whose top-class
/// probability lies in `(lower, upper]` (the first bin also takes 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    /// Predictions in the bin.
    pub count: u64,
    /// Their mean top-class probability.
    #[serde(with = "nonfinite")]
    pub confidence: f64,
    /// The fraction of them that were right.
    #[serde(with = "nonfinite")]
    pub accuracy: f64,
}

/// Temperature scaling (Guo et al. 2017): the kept weights' logits divided
/// by one `temperature` fitted on val (minimum NLL), and what that does on
/// test. Predictions, hence accuracies, do not change; confidences do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    #[serde(with = "nonfinite")]
    pub temperature: f64,
    /// Mean val NLL before (T = 1) and after scaling.
    #[serde(with = "nonfinite")]
    pub val_nll_before: f64,
    #[serde(with = "nonfinite")]
    pub val_nll_after: f64,
    #[serde(with = "nonfinite")]
    pub test_nll_before: f64,
    #[serde(with = "nonfinite")]
    pub test_nll_after: f64,
    /// Test ECE (15 bins) before and after scaling.
    #[serde(with = "nonfinite")]
    pub test_ece_before: f64,
    #[serde(with = "nonfinite")]
    pub test_ece_after: f64,
    /// The test reliability diagram after scaling.
    pub test_reliability_after: Vec<ReliabilityBin>,
}

/// Everything a finished trial reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub backbone: BackboneInfo,
    pub epochs: Vec<EpochMetrics>,
    /// Epoch (1-based, global) with the best validation accuracy.
    pub best_epoch: u32,
    #[serde(with = "nonfinite")]
    pub best_val_acc: f64,
    #[serde(with = "nonfinite")]
    pub best_val_loss: f64,
    #[serde(with = "nonfinite")]
    pub best_val_ece: f64,
    pub test: TestMetrics,
    /// The same measures on the validation split, for the kept weights (the
    /// best epoch's). Absent in results from before they were recorded and
    /// for a trial that diverged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<SplitMetrics>,
    /// Temperature scaling fitted on val, reported on test. Absent as `val`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    pub phases: Vec<PhaseTiming>,
    #[serde(with = "nonfinite")]
    pub wall_s: f64,
    /// Seconds of `wall_s` the trial waited for its turn in a lockstep bundle
    /// (the worker's `turns`): its own time is `wall_s` less this. Absent
    /// when it waited for none.
    #[serde(default, skip_serializing_if = "is_no_time")]
    pub turn_wait_s: f64,
    pub threads: u32,
    /// Host the trial ran on.
    pub host: String,
    /// Set when the trial stopped early because a loss was not finite. Then
    /// `epochs` ends with the epoch that diverged (its missing values NaN),
    /// `best_*` describe the best finite epoch before it (`best_epoch` 0 and
    /// NaN when there was none), and `test` was not measured (NaN, empty).
    /// Absent from the JSON of a trial that did not diverge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Divergence>,
    /// Set by `sweep-worker --simulate` (scheduling tests): no training ran
    /// and every metric is made up. Leaderboards show such a trial as
    /// simulated, so it never passes for a real result. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// Which loss stopped being finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergedLoss {
    /// A training batch's loss.
    Train,
    /// The validation loss at the end of an epoch.
    Val,
}

/// Where and how a trial diverged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// Epoch (1-based, global) during which it happened.
    pub epoch: u32,
    /// 1 or 2.
    pub phase: u32,
    pub loss: DivergedLoss,
    /// The training batch (1-based, within the epoch); 0 for the validation loss.
    pub batch: u32,
    /// The non-finite value.
    #[serde(with = "nonfinite")]
    pub value: f64,
}

impl fmt::Display for Divergence {
    /// `diverged at epoch 3 (train loss NaN, batch 2)`, `diverged at epoch 3 (val loss inf)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = nonfinite::text_of(self.value)
            .map(str::to_string)
            .unwrap_or_else(|| self.value.to_string());
        match self.loss {
            DivergedLoss::Train => write!(
                f,
                "diverged at epoch {} (train loss {value}, batch {})",
                self.epoch, self.batch
            ),
            DivergedLoss::Val => {
                write!(f, "diverged at epoch {} (val loss {value})", self.epoch)
            }
        }
    }
}

/// Names a sweep may rank by, with their natural goal.
pub const RANKING_METRICS: [(&str, &str); 5] = [
    ("val_acc", "maximize"),
    ("val_nll", "minimize"),
    ("val_loss", "minimize"),
    ("val_ece", "minimize"),
    ("train_loss", "minimize"),
];

impl TrialResult {
    /// The value of a ranking metric, taken at the best epoch. `None` for an
    /// unknown name, and for every `test_*` name: test never ranks. A
    /// diverged trial without a finite epoch gives NaN. The value may be
    /// non-finite; [`TrialResult::ranked_metric`] is what a leaderboard sorts by.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let best = self.epochs.iter().find(|e| e.epoch == self.best_epoch);
        match name {
            "val_acc" => Some(self.best_val_acc),
            // The val loss is the mean negative log-likelihood (cross-entropy
            // without label smoothing): `val_nll` says so, `val_loss` stays.
            "val_nll" | "val_loss" => Some(self.best_val_loss),
            "val_ece" => Some(self.best_val_ece),
            "train_loss" => match best {
                Some(e) => Some(e.train_loss),
                None if self.diverged.is_some() => Some(f64::NAN),
                None => None,
            },
            _ => None,
        }
    }

    /// What the trial ranks by: [`TrialResult::metric`] when the trial did
    /// not diverge and the value is finite, else `Some(None)` (ranks after
    /// every finite result, whatever the goal). `None` as for `metric`.
    pub fn ranked_metric(&self, name: &str) -> Option<Option<f64>> {
        let m = self.metric(name)?;
        Some((self.diverged.is_none() && m.is_finite()).then_some(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(n: u32, train_loss: f64, val_loss: f64, val_acc: f64) -> EpochMetrics {
        EpochMetrics {
            epoch: n,
            phase: 2,
            train_loss,
            train_acc: 0.5,
            val_loss,
            val_acc,
            val_ece: 0.1,
            lr_backbone: 1e-4,
            lr_head: 1e8,
            wall_s: 0.5,
        }
    }

    fn diverged() -> TrialResult {
        TrialResult {
            backbone: BackboneInfo {
                name: "b".into(),
                sha256: "00".into(),
            },
            epochs: vec![
                epoch(1, 0.9, 0.8, 0.7),
                epoch(2, f64::NAN, f64::NAN, f64::NAN),
            ],
            best_epoch: 1,
            best_val_acc: 0.7,
            best_val_loss: 0.8,
            best_val_ece: 0.1,
            test: TestMetrics {
                acc: f64::NAN,
                loss: f64::INFINITY,
                ece: f64::NEG_INFINITY,
                per_class_acc: vec![f64::NAN, 0.5],
                confusion: vec![],
                reliability: vec![],
            },
            val: None,
            calibration: None,
            phases: vec![],
            wall_s: 1.0,
            turn_wait_s: 0.0,
            threads: 1,
            host: "h".into(),
            diverged: Some(Divergence {
                epoch: 2,
                phase: 2,
                loss: DivergedLoss::Train,
                batch: 3,
                value: f64::NAN,
            }),
            simulated: false,
        }
    }

    /// Equal, with NaN equal to NaN.
    fn same(a: &TrialResult, b: &TrialResult) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn a_diverged_result_round_trips_through_json() {
        let r = diverged();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""train_loss":"NaN""#), "{json}");
        assert!(json.contains(r#""loss":"inf","ece":"-inf""#), "{json}");
        assert!(json.contains(r#""per_class_acc":["NaN",0.5]"#), "{json}");
        assert!(
            json.contains(
                r#""diverged":{"epoch":2,"phase":2,"loss":"train","batch":3,"value":"NaN"}"#
            ),
            "{json}"
        );
        let back: TrialResult = serde_json::from_str(&json).unwrap();
        assert!(same(&r, &back), "{back:?}");
    }

    #[test]
    fn results_without_the_new_field_or_with_null_still_read() {
        let mut r = diverged();
        r.diverged = None;
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("diverged"), "{json}");
        // What plain serde_json wrote for NaN before this encoding.
        let old = json.replace(r#""NaN""#, "null");
        let back: TrialResult = serde_json::from_str(&old).unwrap();
        assert!(back.epochs[1].train_loss.is_nan() && back.test.acc.is_nan());
    }

    #[test]
    fn a_diverged_trial_ranks_by_nothing() {
        let r = diverged();
        assert_eq!(r.metric("val_acc"), Some(0.7));
        assert_eq!(r.ranked_metric("val_acc"), Some(None));
        assert_eq!(r.ranked_metric("test_acc"), None);
        let mut no_best = r.clone();
        no_best.best_epoch = 0;
        assert!(no_best.metric("train_loss").unwrap().is_nan());
        let mut fine = r;
        fine.diverged = None;
        assert_eq!(fine.ranked_metric("val_loss"), Some(Some(0.8)));
        fine.best_val_loss = f64::INFINITY;
        assert_eq!(fine.ranked_metric("val_loss"), Some(None));
    }

    #[test]
    fn a_divergence_says_where() {
        let mut d = diverged().diverged.unwrap();
        assert_eq!(
            d.to_string(),
            "diverged at epoch 2 (train loss NaN, batch 3)"
        );
        d.loss = DivergedLoss::Val;
        d.value = f64::INFINITY;
        assert_eq!(d.to_string(), "diverged at epoch 2 (val loss inf)");
    }
}
