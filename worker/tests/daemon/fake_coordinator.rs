//! A scripted in-process `WorkerService` for the daemon's tests: it hands
//! out the leases it is given, fails calls on cue (UNAVAILABLE, NOT_FOUND,
//! FAILED_PRECONDITION), says `stop` (or `stopped_early`) when told to, and records every request
//! (lease calls and failures with the time they came). Uploads are read
//! whole, checked against their header's size and SHA-256, and kept.

use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use sweep_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use sweep_proto::v1::{
    ArtifactChunk, ArtifactHeader, ArtifactInfo, CompleteTrialRequest, DrainRequest, DrainResponse,
    FailTrialRequest, HeartbeatRequest, HeartbeatResponse, Lease, LeaseTrialRequest,
    LeaseTrialResponse, RegisterRequest, RegisterResponse, ReportResponse, UploadArtifactResponse,
};
use tonic::{Code, Request, Response, Status};

/// What the fake will answer.
#[derive(Debug, Default)]
pub struct Script {
    pub heartbeat_interval_ms: u64,
    /// Handed out in order, then none.
    pub leases: VecDeque<Lease>,
    /// Errors the next lease calls get, one each, before any lease.
    pub lease_errors: VecDeque<Code>,
    /// Errors the next CompleteTrial calls get, one each.
    pub complete_errors: VecDeque<Code>,
    /// Errors the next UploadArtifact calls get (after reading the stream).
    pub upload_errors: VecDeque<Code>,
    /// Answer every heartbeat with `stop = true`.
    pub stop: bool,
    /// Answer every heartbeat that carries an epoch with `stopped_early`
    /// (and `stop`), giving this reason.
    pub stopped_early: Option<String>,
}

/// What the fake was asked.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub registers: Vec<RegisterRequest>,
    pub lease_calls: Vec<String>,
    /// When each lease call came.
    pub lease_times: Vec<Instant>,
    pub heartbeats: Vec<HeartbeatRequest>,
    /// Every CompleteTrial call, answered or not.
    pub completes: Vec<CompleteTrialRequest>,
    /// The results stored (each trial attempt once).
    pub stored: Vec<CompleteTrialRequest>,
    pub fails: Vec<FailTrialRequest>,
    /// When each FailTrial came.
    pub fail_times: Vec<Instant>,
    pub drains: Vec<DrainRequest>,
    /// Every upload stored: its header and bytes.
    pub uploads: Vec<(ArtifactHeader, Vec<u8>)>,
    /// UploadArtifact calls, answered or not.
    pub upload_calls: usize,
    /// How many uploads were stored when each CompleteTrial came.
    pub uploads_at_complete: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Fake {
    state: Mutex<(Script, Seen)>,
}

impl Fake {
    /// Serves `script` on a free localhost port; the fake and its URL.
    pub async fn start(script: Script) -> (Arc<Fake>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake {
            state: Mutex::new((script, Seen::default())),
        });
        let service = WorkerServiceServer::from_arc(fake.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (fake, url)
    }

    /// A copy of everything seen so far.
    pub fn seen(&self) -> Seen {
        self.state.lock().unwrap().1.clone()
    }
}

#[tonic::async_trait]
impl WorkerService for Fake {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let mut s = self.state.lock().unwrap();
        s.1.registers.push(req.into_inner());
        Ok(Response::new(RegisterResponse {
            worker_id: format!("w{}", s.1.registers.len()),
            heartbeat_interval_ms: s.0.heartbeat_interval_ms,
            lease_ms: 1000,
            ..Default::default()
        }))
    }

    async fn lease_trial(
        &self,
        req: Request<LeaseTrialRequest>,
    ) -> Result<Response<LeaseTrialResponse>, Status> {
        let mut s = self.state.lock().unwrap();
        let req = req.into_inner();
        s.1.lease_calls.push(req.worker_id);
        s.1.lease_times.push(Instant::now());
        if let Some(code) = s.0.lease_errors.pop_front() {
            return Err(Status::new(code, "scripted lease error"));
        }
        let lease = s.0.leases.pop_front();
        let mut bundle = Vec::new();
        while lease.is_some() && 1 + bundle.len() < req.max_trials as usize {
            match s.0.leases.pop_front() {
                Some(l) => bundle.push(l),
                None => break,
            }
        }
        Ok(Response::new(LeaseTrialResponse {
            lease,
            retry_after_ms: 20,
            bundle,
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let mut s = self.state.lock().unwrap();
        let req = req.into_inner();
        let early =
            s.0.stopped_early
                .clone()
                .filter(|_| !req.epoch_json.is_empty());
        s.1.heartbeats.push(req);
        Ok(Response::new(HeartbeatResponse {
            stop: s.0.stop || early.is_some(),
            lease_ms: 1000,
            stopped_early: early.is_some(),
            stop_reason: early.unwrap_or_default(),
        }))
    }

    async fn complete_trial(
        &self,
        req: Request<CompleteTrialRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        let mut s = self.state.lock().unwrap();
        let req = req.into_inner();
        s.1.completes.push(req.clone());
        let uploaded = s.1.uploads.len();
        s.1.uploads_at_complete.push(uploaded);
        if let Some(code) = s.0.complete_errors.pop_front() {
            return Err(Status::new(code, "scripted report error"));
        }
        let repeat = s.1.stored.iter().any(|c| {
            c.sweep_id == req.sweep_id && c.trial_id == req.trial_id && c.attempt == req.attempt
        });
        if !repeat {
            s.1.stored.push(req);
        }
        Ok(Response::new(ReportResponse { stored: !repeat }))
    }

    async fn fail_trial(
        &self,
        req: Request<FailTrialRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        let mut s = self.state.lock().unwrap();
        s.1.fails.push(req.into_inner());
        s.1.fail_times.push(Instant::now());
        Ok(Response::new(ReportResponse { stored: true }))
    }

    async fn upload_artifact(
        &self,
        req: Request<tonic::Streaming<ArtifactChunk>>,
    ) -> Result<Response<UploadArtifactResponse>, Status> {
        let mut stream = req.into_inner();
        let mut header = None;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await? {
            assert!(
                chunk.data.len() <= sweep_proto::artifacts::CHUNK_BYTES,
                "a chunk over 1 MiB"
            );
            if let Some(h) = chunk.header {
                assert!(header.is_none(), "a second header");
                header = Some(h);
            }
            bytes.extend_from_slice(&chunk.data);
        }
        let header = header.ok_or_else(|| Status::invalid_argument("no header"))?;
        let mut s = self.state.lock().unwrap();
        s.1.upload_calls += 1;
        if let Some(code) = s.0.upload_errors.pop_front() {
            return Err(Status::new(code, "scripted upload error"));
        }
        if bytes.len() as u64 != header.size || hex::encode(Sha256::digest(&bytes)) != header.sha256
        {
            return Err(Status::data_loss("size or digest differs from the header"));
        }
        let info = ArtifactInfo {
            sweep_id: header.sweep_id.clone(),
            trial_id: header.trial_id.clone(),
            attempt: header.attempt,
            name: header.name.clone(),
            size: header.size,
            sha256: header.sha256.clone(),
            created_unix_ms: 0,
        };
        s.1.uploads.push((header, bytes));
        Ok(Response::new(UploadArtifactResponse {
            artifact: Some(info),
        }))
    }

    async fn drain(&self, req: Request<DrainRequest>) -> Result<Response<DrainResponse>, Status> {
        self.state.lock().unwrap().1.drains.push(req.into_inner());
        Ok(Response::new(DrainResponse {}))
    }
}
