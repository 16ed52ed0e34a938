//! The worker daemon's Prometheus metrics, served at `/metrics` on
//! `metrics_listen` ([`serve`], off unless set): trials started and
//! finished by outcome, epochs run, each epoch's wall time, training images
//! per second of the latest epoch, and busy slots. Fed by the slots from
//! what their trial processes report (`EpochMetrics`); no tensor involved.
//!
//! Every label has a fixed set of values (the outcomes below).

pub mod serve;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// How an attempt ended on this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrialOutcome {
    /// A result was reported (diverged ones too).
    Completed,
    /// A failure blamed on the trial.
    Failed,
    /// A failure blamed on this worker's environment (a crash, data missing).
    EnvironmentFailure,
    /// Stopped by the coordinator (cancelled, stopped early, lease lost) or
    /// handed back on shutdown.
    Stopped,
}

impl TrialOutcome {
    fn as_str(self) -> &'static str {
        match self {
            TrialOutcome::Completed => "completed",
            TrialOutcome::Failed => "failed",
            TrialOutcome::EnvironmentFailure => "environment_failure",
            TrialOutcome::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Every metric of one daemon; counting is lock-free.
#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    trials_started: Counter,
    trials_finished: Family<OutcomeLabels, Counter>,
    epochs: Counter,
    epoch_seconds: Histogram,
    images_per_second: Gauge<f64, AtomicU64>,
    slots_busy: Gauge,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerMetrics {
    /// Registers every metric under the `sweep_worker_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sweep_worker");
        let trials_started = Counter::default();
        registry.register(
            "trials_started",
            "Attempts this worker leased and started",
            trials_started.clone(),
        );
        let trials_finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "trials_finished",
            "Attempts that ended on this worker, by outcome",
            trials_finished.clone(),
        );
        let epochs = Counter::default();
        registry.register(
            "epochs",
            "Epochs this worker's trials finished",
            epochs.clone(),
        );
        // 0.1 s to ~30 min.
        let epoch_seconds = Histogram::new(exponential_buckets(0.1, 2.0, 15));
        registry.register_with_unit(
            "epoch_duration",
            "Wall time of one epoch (training and validation)",
            Unit::Seconds,
            epoch_seconds.clone(),
        );
        let images_per_second = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "images_per_second",
            "Training images of the latest epoch over its wall time",
            images_per_second.clone(),
        );
        let slots_busy = Gauge::default();
        registry.register(
            "slots_busy",
            "Slots running a trial now",
            slots_busy.clone(),
        );
        Self {
            registry,
            trials_started,
            trials_finished,
            epochs,
            epoch_seconds,
            images_per_second,
            slots_busy,
        }
    }

    /// A slot started an attempt.
    pub fn trial_started(&self) {
        self.trials_started.inc();
        self.slots_busy.inc();
    }

    /// A slot's attempt ended.
    pub fn trial_finished(&self, outcome: TrialOutcome) {
        self.trials_finished
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.slots_busy.dec();
    }

    /// An epoch of `train_images` training images took `wall_s` seconds.
    pub fn epoch(&self, wall_s: f64, train_images: u32) {
        self.epochs.inc();
        if wall_s.is_finite() && wall_s > 0.0 {
            self.epoch_seconds.observe(wall_s);
            self.images_per_second.set(f64::from(train_images) / wall_s);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
