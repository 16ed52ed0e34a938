//! `WorkerService`: what worker daemons talk to. `Register` hands out the
//! worker's id and secret; every later call must carry both (a wrong or
//! missing secret: PERMISSION_DENIED, nothing changes). Leases, heartbeats
//! and reports go to the store, which fences them by attempt number and
//! owner. `UploadArtifact` streams a file of an attempt into the
//! artifacts folder (see [`crate::artifacts`]), fenced like a heartbeat.

use super::{bounds, convert, on_store, required};
use crate::artifacts::receive::{self, Expected};
use crate::artifacts::ArtifactFiles;
use crate::metrics::{Metrics, ReportOutcome};
use crate::store::{
    ArtifactUpload, CompletionReport, FailureCause, FailureReport, HeartbeatReport, Store,
    WorkerInfo,
};
use std::sync::Arc;
use sweep_proto::v1;
use sweep_proto::v1::worker_service_server::WorkerService;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

/// The worker-facing service.
#[derive(Debug, Clone)]
pub struct WorkerApi {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    /// Where uploads go, and the largest one kept; `None`: uploads refused.
    artifacts: Option<(Arc<ArtifactFiles>, u64)>,
}

impl WorkerApi {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            metrics: Arc::default(),
            artifacts: None,
        }
    }

    /// Accepts uploads into `files`, each at most `max_bytes`.
    pub fn with_artifacts(mut self, files: Arc<ArtifactFiles>, max_bytes: u64) -> Self {
        self.artifacts = Some((files, max_bytes));
        self
    }

    /// After a stored result: deletes the best weights the sweep no longer
    /// keeps (rows first, then files; a failure is logged, the result stays).
    async fn prune_weights(&self, sweep_id: String) {
        // A report without its sweep (an older worker) uploaded nothing.
        let Some((files, _)) = self.artifacts.clone().filter(|_| !sweep_id.is_empty()) else {
            return;
        };
        let pruned = match on_store(&self.store, move |s| s.prune_weights(&sweep_id)).await {
            Ok(p) => p,
            Err(status) => {
                tracing::error!("pruning best weights: {}", status.message());
                return;
            }
        };
        for row in pruned {
            let shown = format!(
                "{}/{}/{}/{}",
                row.sweep_id, row.trial_id, row.attempt, row.name
            );
            let f = files.clone();
            match tokio::task::spawn_blocking(move || f.remove(&row)).await {
                Ok(Ok(())) => {
                    tracing::info!("artifact {shown} pruned (not among the sweep's top weights)")
                }
                Ok(Err(e)) => tracing::error!("cannot delete the pruned artifact {shown}: {e}"),
                Err(e) => tracing::error!("pruning task: {e}"),
            }
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
            max_trials,
        } = r;
        required("worker_id", &worker_id)?;
        let w = worker_id.clone();
        let grants = on_store(&self.store, move |s| {
            s.authenticate_worker(&w, &worker_secret)?;
            s.lease_bundle(&w, &request_id, max_trials)
        })
        .await?;
        let mut grants = grants.into_iter();
        let lease = grants.next();
        let bundle: Vec<_> = grants.collect();
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
        for l in &bundle {
            self.metrics.lease_granted();
            tracing::info!(
                sweep = %l.sweep_id, trial = %l.trial_id,
                "trial {} attempt {} leased to {worker_id} in a bundle with {}",
                l.trial_id, l.attempt, lease.as_ref().map_or("", |f| f.trial_id.as_str())
            );
        }
        Ok(Response::new(v1::LeaseTrialResponse {
            lease: lease.map(convert::lease),
            retry_after_ms: self.retry_after_ms(),
            bundle: bundle.into_iter().map(convert::lease).collect(),
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
        let sweep_id = report.sweep_id.clone();
        let stored = on_store(&self.store, move |s| {
            s.authenticate_worker(&report.worker_id, &secret)?;
            s.complete(&report)
        })
        .await?;
        if stored {
            self.metrics.report(ReportOutcome::Completed);
            self.prune_weights(sweep_id).await;
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

    #[tracing::instrument(name = "upload", skip_all, fields(
        sweep = tracing::field::Empty, trial = tracing::field::Empty,
        attempt = tracing::field::Empty, worker = tracing::field::Empty,
    ))]
    async fn upload_artifact(
        &self,
        request: Request<tonic::Streaming<v1::ArtifactChunk>>,
    ) -> Result<Response<v1::UploadArtifactResponse>, Status> {
        let Some((files, max_bytes)) = self.artifacts.clone() else {
            return Err(Status::unimplemented("this coordinator keeps no artifacts"));
        };
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("an upload without a header"))??;
        let v1::ArtifactChunk { header, data } = first;
        let h = header.ok_or_else(|| Status::invalid_argument("the first chunk has no header"))?;
        for (field, value) in [
            ("worker_id", &h.worker_id),
            ("worker_secret", &h.worker_secret),
            ("sweep_id", &h.sweep_id),
            ("trial_id", &h.trial_id),
        ] {
            bounds::id(field, value)?;
        }
        required("worker_id", &h.worker_id)?;
        required("trial_id", &h.trial_id)?;
        let span = tracing::Span::current();
        span.record("sweep", h.sweep_id.as_str());
        span.record("trial", h.trial_id.as_str());
        span.record("attempt", h.attempt);
        span.record("worker", h.worker_id.as_str());
        bounds::artifact_name(&h.name)?;
        let expected = Expected {
            size: h.size,
            sha256: h.sha256,
        };
        receive::check_header(&expected, max_bytes)?;
        let upload = ArtifactUpload {
            worker_id: h.worker_id,
            sweep_id: h.sweep_id,
            trial_id: h.trial_id,
            attempt: h.attempt,
            name: h.name,
        };
        let (u, secret) = (upload.clone(), h.worker_secret);
        let target = on_store(&self.store, move |s| {
            s.authenticate_worker(&u.worker_id, &secret)?;
            s.check_artifact_upload(&u)
        })
        .await?;
        let f = files.clone();
        let (temp, file) = tokio::task::spawn_blocking(move || f.temp_file())
            .await
            .map_err(|e| Status::internal(format!("temp file task: {e}")))?
            .map_err(|e| Status::internal(format!("cannot make a temp file: {e}")))?;
        receive::receive(temp.clone(), file, data, &mut stream, &expected).await?;
        let dest = files.path(
            &target.sweep_id,
            &target.trial_id,
            target.attempt,
            &upload.name,
        );
        let f = files.clone();
        let (t, d) = (temp.clone(), dest.clone());
        let placed = tokio::task::spawn_blocking(move || f.place(&t, &d))
            .await
            .map_err(|e| Status::internal(format!("placing task: {e}")))?;
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&temp);
            return Err(Status::internal(format!("cannot place the artifact: {e}")));
        }
        let (u, sha) = (upload.clone(), expected.sha256.clone());
        let recorded = on_store(&self.store, move |s| {
            s.record_artifact(&u, expected.size, &sha)
        })
        .await;
        let row = match recorded {
            Ok(row) => row,
            Err(status) => {
                // Fenced out meanwhile: the placed file goes unless an
                // earlier upload's row names it.
                let t = target.clone();
                let name = upload.name.clone();
                let named = on_store(&self.store, move |s| {
                    s.has_artifact(&t.sweep_id, &t.trial_id, t.attempt, &name)
                })
                .await
                .unwrap_or(true);
                if !named {
                    let _ = std::fs::remove_file(&dest);
                }
                return Err(status);
            }
        };
        tracing::info!(
            trial = %row.trial_id,
            "artifact {} of trial {} attempt {} stored ({} bytes)",
            row.name, row.trial_id, row.attempt, row.size
        );
        Ok(Response::new(v1::UploadArtifactResponse {
            artifact: Some(convert::artifact(row)),
        }))
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
