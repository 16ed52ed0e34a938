//! `WorkerService`: what worker daemons talk to. `Register` hands out the
//! worker's id and secret; every later call must carry both (a wrong or
//! missing secret: PERMISSION_DENIED, nothing changes). Leases, heartbeats
//! and reports go to the store, which fences them by attempt number and
//! owner.

use super::{bounds, convert, on_store, required};
use crate::metrics::{Metrics, ReportOutcome};
use crate::store::{
    CompletionReport, FailureCause, FailureReport, HeartbeatReport, Store, WorkerInfo,
};
use std::sync::Arc;
use sweep_proto::v1;
use sweep_proto::v1::worker_service_server::WorkerService;
use tonic::{Request, Response, Status};

/// The worker-facing service.
#[derive(Debug, Clone)]
pub struct WorkerApi {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
}

impl WorkerApi {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            metrics: Arc::default(),
        }
    }

    /// Counts leases and reports in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// How often a worker should heartbeat: three times per lease.
    fn heartbeat_interval_ms(&self) -> u64 {
        (self.store.lease_ms() / 3).max(1)
    }

    /// When a worker that got nothing should ask again.
    fn retry_after_ms(&self) -> u64 {
        (self.store.lease_ms() / 10).clamp(50, 1000)
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        let mut r = request.into_inner();
        bounds::register(&mut r);
        let info = WorkerInfo {
            hostname: r.hostname,
            cores: r.cores,
            slots: r.slots,
            version: r.version,
        };
        let host = info.hostname.clone();
        let slots = info.slots;
        let registration = on_store(&self.store, move |s| s.register_worker(&info)).await?;
        let worker_id = registration.worker_id;
        tracing::info!(worker = %worker_id, "worker {worker_id} registered ({host}, {slots} slot(s))");
        Ok(Response::new(v1::RegisterResponse {
            worker_id,
            heartbeat_interval_ms: self.heartbeat_interval_ms(),
            lease_ms: self.store.lease_ms(),
            worker_secret: registration.secret,
        }))
    }

    #[tracing::instrument(name = "lease", skip_all, fields(
        worker = %bounds::shown(&request.get_ref().worker_id),
        sweep = tracing::field::Empty, trial = tracing::field::Empty, attempt = tracing::field::Empty,
    ))]
    async fn lease_trial(
        &self,
        request: Request<v1::LeaseTrialRequest>,
    ) -> Result<Response<v1::LeaseTrialResponse>, Status> {
        let r = request.into_inner();
        bounds::lease(&r)?;
        let v1::LeaseTrialRequest {
            worker_id,
            request_id,
            worker_secret,
        } = r;
        required("worker_id", &worker_id)?;
        let w = worker_id.clone();
        let lease = on_store(&self.store, move |s| {
            s.authenticate_worker(&w, &worker_secret)?;
            s.lease(&w, &request_id)
        })
        .await?;
        if let Some(l) = &lease {
            self.metrics.lease_granted();
            let span = tracing::Span::current();
            span.record("sweep", l.sweep_id.as_str());
            span.record("trial", l.trial_id.as_str());
            span.record("attempt", l.attempt);
            tracing::info!(
                sweep = %l.sweep_id, trial = %l.trial_id,
                "trial {} attempt {} leased to {worker_id}", l.trial_id, l.attempt
            );
        }
        Ok(Response::new(v1::LeaseTrialResponse {
            lease: lease.map(convert::lease),
            retry_after_ms: self.retry_after_ms(),
        }))
    }

    #[tracing::instrument(name = "heartbeat", skip_all, fields(
        sweep = %bounds::shown(&request.get_ref().sweep_id),
        trial = %bounds::shown(&request.get_ref().trial_id),
        attempt = request.get_ref().attempt,
        worker = %bounds::shown(&request.get_ref().worker_id),
    ))]
    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let r = request.into_inner();
        bounds::heartbeat(&r)?;
        required("worker_id", &r.worker_id)?;
        required("trial_id", &r.trial_id)?;
        let report = HeartbeatReport {
            sweep_id: r.sweep_id,
            worker_id: r.worker_id,
            trial_id: r.trial_id,
            attempt: r.attempt,
            epoch_json: r.epoch_json,
            epochs_done: r.epochs_done,
            total_epochs: r.total_epochs,
        };
        let secret = r.worker_secret;
        let answer = on_store(&self.store, move |s| {
            s.authenticate_worker(&report.worker_id, &secret)?;
            s.heartbeat(&report)
        })
        .await?;
        Ok(Response::new(v1::HeartbeatResponse {
            stop: answer.stop,
            lease_ms: answer.lease_ms,
            stopped_early: answer.stopped_early.is_some(),
            stop_reason: answer.stopped_early.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(name = "complete", skip_all, fields(
        sweep = %bounds::shown(&request.get_ref().sweep_id),
        trial = %bounds::shown(&request.get_ref().trial_id),
        attempt = request.get_ref().attempt,
        worker = %bounds::shown(&request.get_ref().worker_id),
    ))]
    async fn complete_trial(
        &self,
        request: Request<v1::CompleteTrialRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let r = request.into_inner();
        bounds::complete(&r)?;
        required("worker_id", &r.worker_id)?;
        required("trial_id", &r.trial_id)?;
        let secret = r.worker_secret;
        let report = CompletionReport {
            sweep_id: r.sweep_id,
            worker_id: r.worker_id,
            trial_id: r.trial_id,
            attempt: r.attempt,
            result_json: r.result_json,
        };
        let (trial, attempt) = (report.trial_id.clone(), report.attempt);
        let stored = on_store(&self.store, move |s| {
            s.authenticate_worker(&report.worker_id, &secret)?;
            s.complete(&report)
        })
        .await?;
        if stored {
            self.metrics.report(ReportOutcome::Completed);
        }
        tracing::info!(trial = %trial, "trial {trial} attempt {attempt} done{}", if stored { "" } else { " (repeat, already stored)" });
        Ok(Response::new(v1::ReportResponse { stored }))
    }

    #[tracing::instrument(name = "fail", skip_all, fields(
        sweep = %bounds::shown(&request.get_ref().sweep_id),
        trial = %bounds::shown(&request.get_ref().trial_id),
        attempt = request.get_ref().attempt,
        worker = %bounds::shown(&request.get_ref().worker_id),
    ))]
    async fn fail_trial(
        &self,
        request: Request<v1::FailTrialRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let mut r = request.into_inner();
        bounds::fail(&mut r)?;
        required("worker_id", &r.worker_id)?;
        required("trial_id", &r.trial_id)?;
        let secret = r.worker_secret;
        let report = FailureReport {
            sweep_id: r.sweep_id,
            worker_id: r.worker_id,
            trial_id: r.trial_id,
            attempt: r.attempt,
            error: r.error,
            handed_back: r.handed_back,
            cause: convert::failure_cause(r.cause),
        };
        let (trial, attempt, handed_back, cause, error) = (
            report.trial_id.clone(),
            report.attempt,
            report.handed_back,
            report.cause,
            report.error.clone(),
        );
        let stored = on_store(&self.store, move |s| {
            s.authenticate_worker(&report.worker_id, &secret)?;
            s.fail(&report)
        })
        .await?;
        if stored {
            self.metrics.report(if cause == FailureCause::Environment {
                ReportOutcome::EnvironmentFailure
            } else if handed_back {
                ReportOutcome::HandedBack
            } else {
                ReportOutcome::Failed
            });
        }
        if cause == FailureCause::Environment {
            tracing::warn!(trial = %trial, "trial {trial} attempt {attempt} given back for environment reasons: {error}");
        } else if handed_back {
            tracing::info!(trial = %trial, "trial {trial} attempt {attempt} handed back");
        } else {
            tracing::warn!(trial = %trial, "trial {trial} attempt {attempt} failed: {error}");
        }
        Ok(Response::new(v1::ReportResponse { stored }))
    }

    #[tracing::instrument(name = "drain", skip_all, fields(
        worker = %bounds::shown(&request.get_ref().worker_id),
    ))]
    async fn drain(
        &self,
        request: Request<v1::DrainRequest>,
    ) -> Result<Response<v1::DrainResponse>, Status> {
        bounds::drain(request.get_ref())?;
        let r = request.into_inner();
        required("worker_id", &r.worker_id)?;
        let w = r.worker_id.clone();
        on_store(&self.store, move |s| {
            s.authenticate_worker(&w, &r.worker_secret)?;
            s.drain_worker(&w)
        })
        .await?;
        tracing::info!(worker = %r.worker_id, "worker {} drains: it leases nothing more", r.worker_id);
        Ok(Response::new(v1::DrainResponse {}))
    }
}
