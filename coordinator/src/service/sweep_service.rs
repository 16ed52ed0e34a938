//! `SweepService`: what the `sweep` CLI talks to. A submitted file is
//! parsed and expanded first (INVALID_ARGUMENT, nothing stored, when
//! refused), then stored with all its trials in one transaction. Every id
//! is checked against its cap (`bounds`) first; `ListTrials` is paged
//! (`paging`); `WatchSweep` streams are capped ([`ServiceLimits`]).
//! `ListArtifacts` and `GetArtifact` read what trials left
//! ([`crate::artifacts`]): a download streams the file in 1 MiB chunks.

use super::limits::ServiceLimits;
use super::watch::{watch_sweep, SummaryStream};
use super::{bounds, convert, on_store, paging, required};
use crate::artifacts::ArtifactFiles;
use crate::store::Store;
use crate::sweepfile;
use std::pin::Pin;
use std::sync::Arc;
use sweep_proto::artifacts::CHUNK_BYTES;
use sweep_proto::v1;
use sweep_proto::v1::sweep_service_server::SweepService;
use tokio::io::AsyncReadExt;
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
    /// Where artifacts lie; `None`: none are kept.
    artifacts: Option<Arc<ArtifactFiles>>,
}

/// A download's messages.
pub type ArtifactStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::ArtifactData, Status>> + Send>>;

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
            artifacts: None,
        }
    }

    /// Serves the artifacts in `files`.
    pub fn with_artifacts(mut self, files: Arc<ArtifactFiles>) -> Self {
        self.artifacts = Some(files);
        self
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
        let inputs: crate::store::InputFingerprints = req
            .input_sha256
            .into_iter()
            .map(|(path, sha)| (path, sha.to_ascii_lowercase()))
            .collect();
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
        let submitted = on_store(&self.store, move |s| {
            s.submit_sweep(&sweep, &yaml, &source, &inputs)
        })
        .await?;
        let sweep_id = submitted.sweep_id.clone();
        let reused = submitted.reused;
        let reuse_note = submitted.reuse_note();
        tracing::info!(sweep = %sweep_id, "sweep {sweep_id} ({name}) stored with {trial_count} trials, {reused} reused from earlier sweeps");
        if !reuse_note.is_empty() {
            tracing::info!(sweep = %sweep_id, "sweep {sweep_id}: {reuse_note}");
        }
        Ok(Response::new(v1::SubmitSweepResponse {
            sweep_id,
            trial_count,
            reused,
            reuse_note,
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

    async fn list_artifacts(
        &self,
        request: Request<v1::ListArtifactsRequest>,
    ) -> Result<Response<v1::ListArtifactsResponse>, Status> {
        let r = request.into_inner();
        artifact_ids(&r.sweep_id, &r.trial_id)?;
        let (rows, truncated) = on_store(&self.store, move |s| {
            let trial = (!r.trial_id.is_empty()).then_some(r.trial_id.as_str());
            s.list_artifacts(&r.sweep_id, trial)
        })
        .await?;
        Ok(Response::new(v1::ListArtifactsResponse {
            artifacts: rows.into_iter().map(convert::artifact).collect(),
            truncated,
        }))
    }

    type GetArtifactStream = ArtifactStream;

    async fn get_artifact(
        &self,
        request: Request<v1::GetArtifactRequest>,
    ) -> Result<Response<ArtifactStream>, Status> {
        let r = request.into_inner();
        artifact_ids(&r.sweep_id, &r.trial_id)?;
        required("trial_id", &r.trial_id)?;
        bounds::artifact_name(&r.name)?;
        let Some(files) = self.artifacts.clone() else {
            return Err(Status::unimplemented("this coordinator keeps no artifacts"));
        };
        let (sweep, trial, name) = (r.sweep_id.clone(), r.trial_id.clone(), r.name.clone());
        let row = on_store(&self.store, move |s| s.find_artifact(&sweep, &trial, &name))
            .await?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no artifact `{}` of trial {} in sweep {}",
                    r.name, r.trial_id, r.sweep_id
                ))
            })?;
        // Opened now: a file pruned while it is read stays readable.
        let file = tokio::fs::File::open(files.path_of(&row))
            .await
            .map_err(|e| Status::internal(format!("cannot open the artifact: {e}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(send_file(file, row, tx));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
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

/// Refuses an artifact request's ids over their caps, or without a sweep.
fn artifact_ids(sweep_id: &str, trial_id: &str) -> Result<(), Status> {
    bounds::id("sweep_id", sweep_id)?;
    bounds::id("trial_id", trial_id)?;
    required("sweep_id", sweep_id)
}

/// Sends `row`'s file in chunks of [`CHUNK_BYTES`], `info` with the first;
/// a file whose length differs from its row ends the stream with DATA_LOSS.
async fn send_file(
    mut file: tokio::fs::File,
    row: crate::store::ArtifactRow,
    tx: tokio::sync::mpsc::Sender<Result<v1::ArtifactData, Status>>,
) {
    let size = row.size;
    let mut info = Some(convert::artifact(row));
    let mut sent: u64 = 0;
    loop {
        let mut buf = Vec::with_capacity(CHUNK_BYTES);
        let read = (&mut file)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut buf)
            .await;
        let message = match read {
            Err(e) => Err(Status::internal(format!("cannot read the artifact: {e}"))),
            Ok(0) if sent != size => Err(Status::data_loss(format!(
                "the artifact's file has {sent} of its {size} bytes"
            ))),
            Ok(0) if info.is_none() => return,
            Ok(n) => {
                sent += n as u64;
                Ok(v1::ArtifactData {
                    info: info.take(),
                    data: buf,
                })
            }
        };
        let last = message.is_err();
        if tx.send(message).await.is_err() || last {
            return;
        }
        if sent > size {
            let _ = tx
                .send(Err(Status::data_loss("the artifact's file grew")))
                .await;
            return;
        }
    }
}
