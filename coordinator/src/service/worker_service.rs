//! `WorkerService`: what worker daemons talk to. Leases, heartbeats and
//! reports go straight to the store, which fences them by attempt number.

use super::{bounds, convert, on_store, required};
use crate::store::{CompletionReport, FailureReport, HeartbeatReport, Store, WorkerInfo};
use std::sync::Arc;
use sweep_proto::v1;
use sweep_proto::v1::worker_service_server::WorkerService;
use tonic::{Request, Response, Status};

/// The worker-facing service.
#[derive(Debug, Clone)]
pub struct WorkerApi {
    store: Arc<Store>,
}

impl WorkerApi {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
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
        let worker_id = on_store(&self.store, move |s| s.register_worker(&info)).await?;
        tracing::info!(worker = %worker_id, "worker {worker_id} registered ({host}, {slots} slot(s))");
        Ok(Response::new(v1::RegisterResponse {
            worker_id,
            heartbeat_interval_ms: self.heartbeat_interval_ms(),
            lease_ms: self.store.lease_ms(),
            worker_secret: String::new(),
        }))
    }

    async fn lease_trial(
        &self,
        request: Request<v1::LeaseTrialRequest>,
    ) -> Result<Response<v1::LeaseTrialResponse>, Status> {
        let r = request.into_inner();
        bounds::lease(&r)?;
        let v1::LeaseTrialRequest {
            worker_id,
            request_id,
            ..
        } = r;
        required("worker_id", &worker_id)?;
        let w = worker_id.clone();
        let lease = on_store(&self.store, move |s| s.lease(&w, &request_id)).await?;
        if let Some(l) = &lease {
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
        let answer = on_store(&self.store, move |s| s.heartbeat(&report)).await?;
        Ok(Response::new(v1::HeartbeatResponse {
            stop: answer.stop,
            lease_ms: answer.lease_ms,
        }))
    }

    async fn complete_trial(
        &self,
        request: Request<v1::CompleteTrialRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let r = request.into_inner();
        bounds::complete(&r)?;
        required("trial_id", &r.trial_id)?;
        let report = CompletionReport {
            sweep_id: r.sweep_id,
            worker_id: r.worker_id,
            trial_id: r.trial_id,
            attempt: r.attempt,
            result_json: r.result_json,
        };
        let (trial, attempt) = (report.trial_id.clone(), report.attempt);
        let stored = on_store(&self.store, move |s| s.complete(&report)).await?;
        tracing::info!(trial = %trial, "trial {trial} attempt {attempt} done{}", if stored { "" } else { " (repeat, already stored)" });
        Ok(Response::new(v1::ReportResponse { stored }))
    }

    async fn fail_trial(
        &self,
        request: Request<v1::FailTrialRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let mut r = request.into_inner();
        bounds::fail(&mut r)?;
        required("trial_id", &r.trial_id)?;
        let report = FailureReport {
            sweep_id: r.sweep_id,
            worker_id: r.worker_id,
            trial_id: r.trial_id,
            attempt: r.attempt,
            error: r.error,
            handed_back: r.handed_back,
        };
        let (trial, attempt, handed_back, error) = (
            report.trial_id.clone(),
            report.attempt,
            report.handed_back,
            report.error.clone(),
        );
        let stored = on_store(&self.store, move |s| s.fail(&report)).await?;
        if handed_back {
            tracing::info!(trial = %trial, "trial {trial} attempt {attempt} handed back");
        } else {
            tracing::warn!(trial = %trial, "trial {trial} attempt {attempt} failed: {error}");
        }
        Ok(Response::new(v1::ReportResponse { stored }))
    }

    async fn drain(
        &self,
        request: Request<v1::DrainRequest>,
    ) -> Result<Response<v1::DrainResponse>, Status> {
        bounds::drain(request.get_ref())?;
        // Worker states (draining, quarantined) are being built: until then nothing is recorded.
        Err(Status::unimplemented(
            "Drain is not served by this coordinator yet",
        ))
    }
}
