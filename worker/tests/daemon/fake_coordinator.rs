//! A scripted in-process `WorkerService` for the daemon's tests: it hands
//! out the leases it is given, fails calls on cue (UNAVAILABLE, NOT_FOUND,
//! FAILED_PRECONDITION), says `stop` (or `stopped_early`) when told to, and records every request
//! (lease calls and failures with the time they came).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use sweep_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use sweep_proto::v1::{
    CompleteTrialRequest, DrainRequest, DrainResponse, FailTrialRequest, HeartbeatRequest,
    HeartbeatResponse, Lease, LeaseTrialRequest, LeaseTrialResponse, RegisterRequest,
    RegisterResponse, ReportResponse,
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
        s.1.lease_calls.push(req.into_inner().worker_id);
        s.1.lease_times.push(Instant::now());
        if let Some(code) = s.0.lease_errors.pop_front() {
            return Err(Status::new(code, "scripted lease error"));
        }
        Ok(Response::new(LeaseTrialResponse {
            lease: s.0.leases.pop_front(),
            retry_after_ms: 20,
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

    async fn drain(&self, req: Request<DrainRequest>) -> Result<Response<DrainResponse>, Status> {
        self.state.lock().unwrap().1.drains.push(req.into_inner());
        Ok(Response::new(DrainResponse {}))
    }
}
