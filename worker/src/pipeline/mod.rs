//! One trial: data split, augmentation, ResNet18 or MobileNetV2 with per-block freezing, two
//! training phases, best-val checkpoint, test evaluation. Knows nothing of gRPC.
//!
//! The API the daemon uses is [`run_trial`] with a [`TrialObserver`] and a
//! cancellation flag checked between batches.
//!
//! - [`idx`], [`mnist`]: reading the data; [`split`]: the stratified split;
//!   [`transform`]: eval transform and batched augmentation (fast), and
//!   [`augment_exact`] (torchvision's exact one); [`data`]: the tensors a trial keeps.
//! - [`net`]: ResNet18 and MobileNetV2 by freezable blocks; [`weights`]: safetensors in and out.
//! - [`optim`]: the phase's optimizer groups; [`adamw`]: fused AdamW; [`schedule`]: LR schedules; [`metrics`]:
//!   accuracy, ECE, confusion; [`calibration`]: temperature scaling;
//!   [`gradcam`]: Grad-CAM maps; [`trial`]: the two phases; [`shared`]:
//!   what trials compute alike (phase 1, frozen prefixes), computed once.
//!
//! Threads: libtorch's intra-op thread count is process-global
//! ([`trial::apply_threads`]); trials that must not share cores have to run in
//! separate processes, each with its own `threads`.

pub mod adamw;
pub mod augment_exact;
pub mod calibration;
pub mod data;
pub mod gradcam;
pub mod idx;
pub mod metrics;
pub mod mnist;
pub mod net;
pub mod optim;
pub mod pretrain;
pub mod rng;
pub mod schedule;
pub mod shared;
pub mod split;
pub mod transform;
pub mod trial;
pub mod weights;

use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{EpochMetrics, TrialConfig, TrialResult};
pub use trial::TrialOptions;

/// This build's pipeline: the crate's version and a hash of every file under
/// src/pipeline (worker/build.rs). The shared caches' keys carry it, so
/// entries written by other pipeline code are never read.
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("SWEEP_PIPELINE_BUILD"));

/// Called by [`run_trial`] as the trial advances (on the trial's own thread).
pub trait TrialObserver {
    /// After each training batch: phase (1|2), global epoch (1-based), batch
    /// index (1-based), batches per epoch.
    fn on_batch(&mut self, _phase: u32, _epoch: u32, _batch: usize, _batches: usize) {}
    /// After each epoch's validation.
    fn on_epoch(&mut self, _metrics: &EpochMetrics) {}
    /// Before each epoch but the trial's first: where a trial of a lockstep
    /// bundle gives its turn up and waits for the next (the daemon's
    /// `turns`). The trial checks its cancel flag right after.
    fn between_epochs(&mut self) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl TrialObserver for NoObserver {}

/// Why a trial did not produce a result. Messages name the path at fault
/// and the command that repairs it where one applies; the cause is the
/// error's `source()` (print the chain, e.g. with anyhow's `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The cancellation flag was set; checked between batches.
    #[error("trial cancelled")]
    Cancelled,
    /// The config failed validation (before any training).
    #[error("invalid trial config")]
    Invalid(#[from] sweep_proto::trial::ConfigError),
    /// MNIST is missing or corrupt, or the split does not fit it.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The backbone weights file is missing, unreadable or unwritable.
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    /// The backbone weights are not a torchvision ResNet18.
    #[error("backbone weights {}", .path.display())]
    Backbone {
        path: std::path::PathBuf,
        #[source]
        source: net::StateDictError,
    },
    /// libtorch refused an optimizer step.
    #[error(transparent)]
    Optimizer(#[from] adamw::StepError),
    /// A folder for `--save-best` could not be made.
    #[error("--save-best: cannot create {}", .path.display())]
    SaveBestDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A trial runner other than the pipeline (the daemon's simulated
    /// trials) failed in its own way.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
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
