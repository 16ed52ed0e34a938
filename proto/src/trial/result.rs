//! What a trial reports: one [`EpochMetrics`] per epoch while it runs, one
//! [`TrialResult`] at the end. The coordinator ranks on validation metrics
//! only ([`TrialResult::metric`] refuses `test_*` names for that reason).

use serde::{Deserialize, Serialize};

/// One finished epoch (numbered 1.. across both phases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: u32,
    /// 1 or 2.
    pub phase: u32,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    /// Expected calibration error, 15 bins.
    pub val_ece: f64,
    /// Learning rates at the end of the epoch.
    pub lr_backbone: f64,
    pub lr_head: f64,
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
    pub wall_s: f64,
    /// Training images per second (forward + backward), averaged over the phase.
    pub train_images_per_s: f64,
}

/// The best-validation weights evaluated on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    pub acc: f64,
    pub loss: f64,
    /// Expected calibration error, 15 bins.
    pub ece: f64,
    pub per_class_acc: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
}

/// Everything a finished trial reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub backbone: BackboneInfo,
    pub epochs: Vec<EpochMetrics>,
    /// Epoch (1-based, global) with the best validation accuracy.
    pub best_epoch: u32,
    pub best_val_acc: f64,
    pub best_val_loss: f64,
    pub best_val_ece: f64,
    pub test: TestMetrics,
    pub phases: Vec<PhaseTiming>,
    pub wall_s: f64,
    pub threads: u32,
    /// Host the trial ran on.
    pub host: String,
}

/// Names a sweep may rank by, with their natural goal.
pub const RANKING_METRICS: [(&str, &str); 4] = [
    ("val_acc", "maximize"),
    ("val_loss", "minimize"),
    ("val_ece", "minimize"),
    ("train_loss", "minimize"),
];

impl TrialResult {
    /// The value of a ranking metric, taken at the best epoch. `None` for an
    /// unknown name, and for every `test_*` name: test never ranks.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let best = self.epochs.iter().find(|e| e.epoch == self.best_epoch);
        match name {
            "val_acc" => Some(self.best_val_acc),
            "val_loss" => Some(self.best_val_loss),
            "val_ece" => Some(self.best_val_ece),
            "train_loss" => best.map(|e| e.train_loss),
            _ => None,
        }
    }
}
