//! The coordinator's Prometheus metrics, served at `/metrics` on the HTTP
//! address (`http_listen`) in the text exposition format.
//!
//! - Counted as things happen: leases granted and expired, reports by
//!   outcome (each attempt ends in one), RPCs by method and status code with
//!   their latency ([`rpc_layer`], a tower layer on the gRPC server), store
//!   commit latency (a hook on every committed transaction).
//! - Read from the store at scrape time ([`store_gauges`]): trials by sweep
//!   and state, workers by state, connected workers.
//!
//! Every label has a bounded set of values: states and outcomes are fixed
//! words, RPC methods are capped ([`rpc_layer::MAX_METHODS`]), sweeps are the
//! stored ones (whose count `max_grid`-sized sweep files and clients bound).

pub mod rpc_layer;
mod store_gauges;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use rpc_layer::RpcMetricsLayer;

use crate::store::{Store, StoreResult};

/// How a worker's report on an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportOutcome {
    /// `CompleteTrial` stored a result.
    Completed,
    /// `FailTrial` blamed on the trial (counts an attempt).
    Failed,
    /// `FailTrial` blamed on the worker's environment (no attempt counted).
    EnvironmentFailure,
    /// `HandBack` (a draining worker returning its lease).
    HandedBack,
}

impl ReportOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Completed => "completed",
            ReportOutcome::Failed => "failed",
            ReportOutcome::EnvironmentFailure => "environment_failure",
            ReportOutcome::HandedBack => "handed_back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TrialLabels {
    sweep_id: String,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WorkerLabels {
    state: &'static str,
}

/// Every metric of one coordinator. Share it with an `Arc`; counting is
/// lock-free, a scrape takes a short lock and reads the store.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    leases_granted: Counter,
    leases_expired: Counter,
    reports: Family<OutcomeLabels, Counter>,
    commit_seconds: Histogram,
    trials: Family<TrialLabels, Gauge>,
    workers: Family<WorkerLabels, Gauge>,
    connected_workers: Gauge,
    rpc: rpc_layer::RpcMetrics,
    /// One scrape at a time refreshes the gauges.
    scraping: Mutex<()>,
}

/// Why `/metrics` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("encoding the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `sweep_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sweep");
        let leases_granted = Counter::default();
        registry.register(
            "leases_granted",
            "Trials leased to workers (each lease starts an attempt)",
            leases_granted.clone(),
        );
        let leases_expired = Counter::default();
        registry.register(
            "leases_expired",
            "Leases taken back because their worker stopped heartbeating",
            leases_expired.clone(),
        );
        let reports = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "attempt_reports",
            "Attempts ended by a worker's report, by outcome",
            reports.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "store_commit",
            "Time to run and commit one store transaction (fsync included)",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let trials = Family::<TrialLabels, Gauge>::default();
        registry.register("trials", "Trials by sweep and state", trials.clone());
        let workers = Family::<WorkerLabels, Gauge>::default();
        registry.register("workers", "Known workers by state", workers.clone());
        let connected_workers = Gauge::default();
        registry.register(
            "connected_workers",
            "Workers heard from within two leases (active, draining or quarantined)",
            connected_workers.clone(),
        );
        let rpc = rpc_layer::RpcMetrics::register(&mut registry);
        Self {
            registry,
            leases_granted,
            leases_expired,
            reports,
            commit_seconds,
            trials,
            workers,
            connected_workers,
            rpc,
            scraping: Mutex::new(()),
        }
    }

    /// A lease was handed out.
    pub fn lease_granted(&self) {
        self.leases_granted.inc();
    }

    /// `n` leases expired.
    pub fn leases_expired(&self, n: u64) {
        self.leases_expired.inc_by(n);
    }

    /// A worker's report on an attempt was stored.
    pub fn report(&self, outcome: ReportOutcome) {
        self.reports
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// The hook the store calls after every commit.
    pub fn commit_observer(self: &Arc<Self>) -> impl Fn(Duration) + Send + Sync + 'static {
        let histogram = self.commit_seconds.clone();
        move |took| histogram.observe(took.as_secs_f64())
    }

    /// The tower layer that counts and times the gRPC server's calls.
    pub fn rpc_layer(&self) -> RpcMetricsLayer {
        RpcMetricsLayer::new(self.rpc.clone())
    }

    /// Refreshes the gauges from `store` and encodes everything (blocking:
    /// call it on a blocking thread).
    pub fn scrape(&self, store: &Store) -> Result<String, MetricsError> {
        let _one_at_a_time = self.scraping.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(store)?;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn refresh(&self, store: &Store) -> StoreResult<()> {
        let gauges = store_gauges::read(store)?;
        self.trials.clear();
        for (sweep_id, state, n) in gauges.trials {
            self.trials
                .get_or_create(&TrialLabels { sweep_id, state })
                .set(n);
        }
        self.workers.clear();
        for (state, n) in gauges.workers {
            self.workers.get_or_create(&WorkerLabels { state }).set(n);
        }
        self.connected_workers.set(gauges.connected_workers);
        Ok(())
    }
}
