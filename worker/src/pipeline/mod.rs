//! One trial: data split, augmentation, ResNet18 with per-stage freezing, two
//! training phases, best-val checkpoint, test evaluation. Knows nothing of gRPC.
//!
//! The API the daemon uses is [`run_trial`] with a [`TrialObserver`] and a
//! cancellation flag checked between batches.
//!
//! - [`idx`], [`mnist`]: reading the data; [`split`]: the stratified split;
//!   [`transform`]: eval transform and batched augmentation; [`data`]: the
//!   tensors a trial keeps.
//! - [`resnet`]: ResNet18 by stages; [`weights`]: safetensors in and out.
//! - [`optim`]: the phase's optimizer groups; [`adamw`]: fused AdamW; [`schedule`]: LR schedules; [`metrics`]:
//!   accuracy, ECE, confusion; [`trial`]: the two phases.
//!
//! Threads: libtorch's intra-op thread count is process-global
//! ([`trial::apply_threads`]); trials that must not share cores have to run in
//! separate processes, each with its own `threads`.

pub mod adamw;
pub mod data;
pub mod idx;
pub mod metrics;
pub mod mnist;
pub mod optim;
pub mod pretrain;
pub mod resnet;
pub mod rng;
pub mod schedule;
pub mod split;
pub mod transform;
pub mod trial;
pub mod weights;

use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{EpochMetrics, TrialConfig, TrialResult};
pub use trial::TrialOptions;

/// Called by [`run_trial`] as the trial advances (on the trial's own thread).
pub trait TrialObserver {
    /// After each training batch: phase (1|2), global epoch (1-based), batch
    /// index (1-based), batches per epoch.
    fn on_batch(&mut self, _phase: u32, _epoch: u32, _batch: usize, _batches: usize) {}
    /// After each epoch's validation.
    fn on_epoch(&mut self, _metrics: &EpochMetrics) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl TrialObserver for NoObserver {}

/// Why a trial did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The cancellation flag was set; checked between batches.
    #[error("trial cancelled")]
    Cancelled,
    /// The config failed validation (before any training).
    #[error("invalid trial config: {0}")]
    Invalid(#[from] sweep_proto::trial::ConfigError),
    /// Anything else (missing data, missing weights, libtorch errors), with
    /// a message naming the path and the command that repairs it where one applies.
    /// Displays the whole chain itself and has no `source()`, so a caller
    /// printing the chain does not print it twice.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for TrialError {
    fn from(e: anyhow::Error) -> Self {
        TrialError::Failed(e)
    }
}

/// Runs one trial to the end, or until `cancel` is set.
pub fn run_trial(
    cfg: &TrialConfig,
    observer: &mut dyn TrialObserver,
    cancel: &AtomicBool,
) -> Result<TrialResult, TrialError> {
    trial::run(cfg, observer, cancel, &TrialOptions::default())
}

/// [`run_trial`] with extras (`--save-best`).
pub fn run_trial_with_options(
    cfg: &TrialConfig,
    observer: &mut dyn TrialObserver,
    cancel: &AtomicBool,
    options: &TrialOptions,
) -> Result<TrialResult, TrialError> {
    trial::run(cfg, observer, cancel, options)
}
