//! `SweepService`: what the `sweep` CLI talks to. A submitted file is
//! parsed and expanded first (INVALID_ARGUMENT, nothing stored, when
//! refused), then stored with all its trials in one transaction. Every id
//! is checked against its cap (`bounds`) first; `ListTrials` is paged
//! (`paging`); `WatchSweep` streams are capped ([`ServiceLimits`]).

use super::limits::ServiceLimits;
use super::watch::{watch_sweep, SummaryStream};
use super::{bounds, convert, on_store, paging, required};
use crate::store::Store;
use crate::sweepfile;
use std::sync::Arc;
use sweep_proto::v1;
use sweep_proto::v1::sweep_service_server::SweepService;
use tokio::sync::{watch, Semaphore};
use tonic::{Request, Response, Status};

/// The client-facing service.
#[derive(Debug, Clone)]
pub struct SweepApi {
    store: Arc<Store>,
    max_grid: u64,
    shutdown: watch::Receiver<bool>,
    max_file_bytes: usize,
    page_bytes: usize,
    /// One permit per `WatchSweep` stream that may be open.
    watchers: Arc<Semaphore>,
}

impl SweepApi {
    /// `shutdown` turning true ends every open `WatchSweep` stream.
    pub fn new(store: Arc<Store>, max_grid: u64, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            store,
            max_grid,
            shutdown,
            max_file_bytes: crate::sweepfile::DEFAULT_MAX_FILE_BYTES,
            page_bytes: ServiceLimits::default().page_bytes(),
            watchers: Arc::new(Semaphore::new(ServiceLimits::default().max_watchers)),
        }
    }

    /// Serves under `limits` (sweep file size, page bytes, watchers).
    pub fn with_limits(mut self, limits: &ServiceLimits) -> Self {
        self.max_file_bytes = limits.max_sweep_file_bytes;
        self.page_bytes = limits.page_bytes();
        self.watchers = Arc::new(Semaphore::new(limits.max_watchers));
        self
    }
}

#[tonic::async_trait]
impl SweepService for SweepApi {
    async fn submit_sweep(
        &self,
        request: Request<v1::SubmitSweepRequest>,
    ) -> Result<Response<v1::SubmitSweepResponse>, Status> {
        let req = request.into_inner();
        bounds::submit(&req)?;
        let source = if req.source_name.trim().is_empty() {
            "<sweep file>".to_string()
        } else {
            req.source_name
        };
        let yaml = req.sweep_yaml;
        let max_grid = self.max_grid;
        let max_file_bytes = self.max_file_bytes;
        let (sweep, yaml, source) = tokio::task::spawn_blocking(move || {
            sweepfile::load(
                &yaml,
                &source,
                &sweepfile::LoadLimits {
                    max_grid,
                    max_file_bytes,
                    ..Default::default()
                },
            )
            .map(|s| (s, yaml, source))
        })
        .await
        .map_err(|e| Status::internal(format!("sweep file task failed: {e}")))?
        .map_err(|e| {
            tracing::info!("sweep file refused: {e}");
            Status::invalid_argument(e.to_string())
        })?;
        let trial_count = sweep.points.len() as u64;
        let name = sweep.name.clone();
        let sweep_id =
            on_store(&self.store, move |s| s.create_sweep(&sweep, &yaml, &source)).await?;
        tracing::info!(sweep = %sweep_id, "sweep {sweep_id} ({name}) stored with {trial_count} trials");
        Ok(Response::new(v1::SubmitSweepResponse {
            sweep_id,
            trial_count,
        }))
    }

    async fn get_sweep(
        &self,
        request: Request<v1::GetSweepRequest>,
    ) -> Result<Response<v1::SweepSummary>, Status> {
        let id = request.into_inner().sweep_id;
        bounds::id("sweep_id", &id)?;
        required("sweep_id", &id)?;
        let s = on_store(&self.store, move |s| s.sweep_summary(&id)).await?;
        Ok(Response::new(convert::summary(s)))
    }

    async fn list_sweeps(
        &self,
        _request: Request<v1::ListSweepsRequest>,
    ) -> Result<Response<v1::ListSweepsResponse>, Status> {
        let sweeps = on_store(&self.store, |s| s.list_sweeps()).await?;
        Ok(Response::new(v1::ListSweepsResponse {
            sweeps: sweeps.into_iter().map(convert::summary).collect(),
        }))
    }

    async fn cancel_sweep(
        &self,
        request: Request<v1::CancelSweepRequest>,
    ) -> Result<Response<v1::SweepSummary>, Status> {
        let id = request.into_inner().sweep_id;
        bounds::id("sweep_id", &id)?;
        required("sweep_id", &id)?;
        let s = on_store(&self.store, move |s| s.cancel_sweep(&id)).await?;
        tracing::info!(sweep = %s.sweep_id, "sweep {} cancelled ({} running told to stop)", s.sweep_id, s.counts.running);
        Ok(Response::new(convert::summary(s)))
    }

    async fn list_trials(
        &self,
        request: Request<v1::ListTrialsRequest>,
    ) -> Result<Response<v1::ListTrialsResponse>, Status> {
        let req = request.into_inner();
        bounds::id("sweep_id", &req.sweep_id)?;
        required("sweep_id", &req.sweep_id)?;
        bounds::id("page_token", &req.page_token)?;
        let offset = paging::decode_token(&req.sweep_id, req.top, &req.page_token)?;
        let size = paging::page_size(req.page_size);
        let id = req.sweep_id.clone();
        let page = on_store(&self.store, move |s| {
            s.list_trials_page(&id, req.top, offset, size)
        })
        .await?;
        Ok(Response::new(paging::response(
            page,
            &req.sweep_id,
            req.top,
            offset,
            self.page_bytes,
        )))
    }

    async fn list_workers(
        &self,
        _request: Request<v1::ListWorkersRequest>,
    ) -> Result<Response<v1::ListWorkersResponse>, Status> {
        let workers = on_store(&self.store, |s| s.list_workers()).await?;
        Ok(Response::new(v1::ListWorkersResponse {
            workers: workers.into_iter().map(convert::worker).collect(),
        }))
    }

    type WatchSweepStream = SummaryStream;

    async fn watch_sweep(
        &self,
        request: Request<v1::WatchSweepRequest>,
    ) -> Result<Response<Self::WatchSweepStream>, Status> {
        let id = request.into_inner().sweep_id;
        bounds::id("sweep_id", &id)?;
        required("sweep_id", &id)?;
        let permit = self.watchers.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(
                "too many WatchSweep streams open on this coordinator; try again later",
            )
        })?;
        let stream = watch_sweep(self.store.clone(), id, self.shutdown.clone(), permit).await?;
        Ok(Response::new(stream))
    }
}
