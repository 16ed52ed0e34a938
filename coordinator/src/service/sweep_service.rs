//! `SweepService`: what the `sweep` CLI talks to. A submitted file is
//! parsed and expanded first (INVALID_ARGUMENT, nothing stored, when
//! refused), then stored with all its trials in one transaction.

use super::watch::{watch_sweep, SummaryStream};
use super::{convert, on_store, required};
use crate::store::Store;
use crate::sweepfile;
use std::sync::Arc;
use sweep_proto::v1;
use sweep_proto::v1::sweep_service_server::SweepService;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// The client-facing service.
#[derive(Debug, Clone)]
pub struct SweepApi {
    store: Arc<Store>,
    max_grid: u64,
    shutdown: watch::Receiver<bool>,
}

impl SweepApi {
    /// `shutdown` turning true ends every open `WatchSweep` stream.
    pub fn new(store: Arc<Store>, max_grid: u64, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            store,
            max_grid,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl SweepService for SweepApi {
    async fn submit_sweep(
        &self,
        request: Request<v1::SubmitSweepRequest>,
    ) -> Result<Response<v1::SubmitSweepResponse>, Status> {
        let req = request.into_inner();
        let source = if req.source_name.trim().is_empty() {
            "<sweep file>".to_string()
        } else {
            req.source_name
        };
        let yaml = req.sweep_yaml;
        let max_grid = self.max_grid;
        let (sweep, yaml, source) = tokio::task::spawn_blocking(move || {
            sweepfile::load(
                &yaml,
                &source,
                &sweepfile::LoadLimits {
                    max_grid,
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
        required("sweep_id", &req.sweep_id)?;
        let r = on_store(&self.store, move |s| s.list_trials(&req.sweep_id, req.top)).await?;
        Ok(Response::new(convert::ranking(r)))
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
        required("sweep_id", &id)?;
        let stream = watch_sweep(self.store.clone(), id, self.shutdown.clone()).await?;
        Ok(Response::new(stream))
    }
}
