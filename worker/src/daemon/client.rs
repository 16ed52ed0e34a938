//! The daemon's side of `WorkerService`: one lazily connected channel, the
//! worker's registration (redone when the coordinator has lost it), and the
//! retry policy.
//!
//! - Connect errors, `UNAVAILABLE` and other transient failures: retry with
//!   exponential backoff ([`Backoff`], 100 ms doubling to 5 s, with jitter).
//! - `FAILED_PRECONDITION`: the attempt is stale; its report is dropped.
//! - `NOT_FOUND`: the coordinator does not know this worker id; register again.
//! - `INVALID_ARGUMENT` and the like: refused for good; logged, dropped.
//!
//! Uploads (`UploadArtifact`) go over a connection of their own without the
//! per-call timeout: a 45 MB file may take longer than a heartbeat should,
//! and must not hold heartbeats up behind it.
//!
//! Every call after `Register` carries the secret the coordinator handed out
//! with the worker id (kept in memory only; a new registration gets a new one).

use super::outbox::{Outcome, Report};
use super::shutdown::{Level, Shutdown};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::{
    ArtifactChunk, ArtifactHeader, ArtifactInfo, CompleteTrialRequest, DrainRequest,
    FailTrialRequest, HeartbeatRequest, HeartbeatResponse, LeaseTrialRequest, LeaseTrialResponse,
    RegisterRequest,
};
use sweep_runtime::credentials::{Bearer, Credentials};
use tokio::sync::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Longest any single call may take before it counts as a transient failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest one upload may take (45 MB at 1 Mbit/s fits).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Re-registrations one report may cause before it is given up as refused.
const MAX_REREGISTER_PER_REPORT: u32 = 3;

/// The coordinator's address cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--coordinator: {url:?} cannot be used")]
pub struct BadUrl {
    pub url: String,
    #[source]
    pub source: sweep_runtime::credentials::CredentialsError,
}

/// What the coordinator said at registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub worker_id: String,
    pub heartbeat_interval: Duration,
    pub lease: Duration,
}

/// How a failed call should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The coordinator is away or busy: try again later.
    Transient,
    /// The attempt is not the trial's current one (`FAILED_PRECONDITION`).
    Stale,
    /// The coordinator does not know this worker (`NOT_FOUND`).
    UnknownWorker,
    /// Refused for good (bad request, not implemented, ...).
    Rejected,
}

/// Sorts a failed call's status into what to do about it.
pub fn classify(status: &Status) -> Refusal {
    match status.code() {
        Code::FailedPrecondition => Refusal::Stale,
        Code::NotFound => Refusal::UnknownWorker,
        Code::InvalidArgument
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::Unimplemented
        | Code::AlreadyExists
        | Code::OutOfRange => Refusal::Rejected,
        _ => Refusal::Transient,
    }
}

/// Exponential backoff with ±20 % jitter.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(100);
    pub const CAP: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The delay before the next try; each call doubles the following one, up to [`Self::CAP`].
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::CAP);
        base.mul_f64(rand::random_range(0.8..1.2))
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// How a report ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Answered; `stored` is false when it repeated an already stored report.
    Acknowledged { stored: bool },
    /// Refused as a stale attempt.
    Stale(String),
    /// Refused for good.
    Refused(String),
    /// Given up on shutdown while the coordinator was away; still spooled.
    Abandoned,
}

/// A gRPC client of the coordinator's `WorkerService`, holding this
/// worker's registration and its current session.
#[derive(Debug)]
pub struct CoordinatorClient {
    rpc: WorkerServiceClient<InterceptedService<Channel, Bearer>>,
    /// For uploads: its own connection, [`UPLOAD_TIMEOUT`] per call.
    upload_rpc: WorkerServiceClient<InterceptedService<Channel, Bearer>>,
    registration: RegisterRequest,
    session: Mutex<Option<Session>>,
    /// The secret of every worker id this process registered as (reports
    /// of an earlier session still carry their own id). Never logged.
    secrets: std::sync::Mutex<HashMap<String, String>>,
}

impl CoordinatorClient {
    /// A client for `url` (`http://host:port`) without a token or TLS.
    pub fn new(url: &str, registration: RegisterRequest) -> Result<Self, BadUrl> {
        Self::with_credentials(url, registration, &Credentials::none())
    }

    /// A client for `url` that sends `credentials`' token on every call
    /// (`authorization: Bearer …`) over its TLS, if any. Connects on the
    /// first call, and again whenever the connection is lost.
    pub fn with_credentials(
        url: &str,
        registration: RegisterRequest,
        credentials: &Credentials,
    ) -> Result<Self, BadUrl> {
        let endpoint = |timeout: Duration| {
            Ok(credentials
                .endpoint(url)
                .map_err(|source| BadUrl {
                    url: url.to_string(),
                    source,
                })?
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(timeout)
                .tcp_nodelay(true))
        };
        Ok(Self {
            rpc: WorkerServiceClient::with_interceptor(
                endpoint(CALL_TIMEOUT)?.connect_lazy(),
                credentials.bearer.clone(),
            ),
            upload_rpc: WorkerServiceClient::with_interceptor(
                endpoint(UPLOAD_TIMEOUT)?.connect_lazy(),
                credentials.bearer.clone(),
            ),
            registration,
            session: Mutex::new(None),
            secrets: Default::default(),
        })
    }

    /// The current session, registering first if there is none. Retries
    /// with backoff while the coordinator is away; `None` once `shutdown`
    /// reaches `give_up_at`.
    pub async fn session(&self, shutdown: &Shutdown, give_up_at: Level) -> Option<Session> {
        let mut session = self.session.lock().await;
        if let Some(s) = session.as_ref() {
            return Some(s.clone());
        }
        let mut backoff = Backoff::new();
        loop {
            if shutdown.level() >= give_up_at {
                return None;
            }
            match self.rpc.clone().register(self.registration.clone()).await {
                Ok(r) => {
                    let r = r.into_inner();
                    let lease = Duration::from_millis(r.lease_ms);
                    let heartbeat_interval = match r.heartbeat_interval_ms {
                        0 => (lease / 3).max(Duration::from_millis(100)),
                        ms => Duration::from_millis(ms),
                    };
                    self.secrets
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(r.worker_id.clone(), r.worker_secret);
                    let s = Session {
                        worker_id: r.worker_id,
                        heartbeat_interval,
                        lease,
                    };
                    tracing::info!(
                        "registered as {} (heartbeat every {:?}, lease {:?})",
                        s.worker_id,
                        s.heartbeat_interval,
                        s.lease
                    );
                    *session = Some(s.clone());
                    return Some(s);
                }
                Err(status) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        "cannot register with the coordinator ({}: {}); retrying in {delay:?}",
                        status.code(),
                        status.message()
                    );
                    if !sleep_unless(delay, shutdown, give_up_at).await {
                        return None;
                    }
                }
            }
        }
    }

    /// The secret `Register` returned with `worker_id` (empty if none did).
    /// The secret `Register` gave `worker_id` in this process; empty if none.
    pub fn secret(&self, worker_id: &str) -> String {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(worker_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The secret to send with `report`: this process's for its worker id,
    /// else the one spooled with it (a report from before a restart).
    fn report_secret(&self, report: &Report) -> String {
        let known = self.secret(&report.worker_id);
        if known.is_empty() {
            report.worker_secret.clone()
        } else {
            known
        }
    }

    /// The coordinator answered NOT_FOUND for `worker_id`: the next
    /// [`Self::session`] registers again (unless that already happened).
    pub async fn forget(&self, worker_id: &str) {
        let mut session = self.session.lock().await;
        if session.as_ref().is_some_and(|s| s.worker_id == worker_id) {
            tracing::warn!("the coordinator does not know worker {worker_id}; registering again");
            *session = None;
        }
    }

    /// Asks for a trial, or a bundle of up to `max_trials`. `request_id` is
    /// repeated on a retry of the same request, so the coordinator answers it
    /// with the same lease(s).
    pub async fn lease(
        &self,
        worker_id: &str,
        request_id: &str,
        max_trials: u32,
    ) -> Result<LeaseTrialResponse, Status> {
        let req = LeaseTrialRequest {
            worker_id: worker_id.to_string(),
            request_id: request_id.to_string(),
            worker_secret: self.secret(worker_id),
            max_trials,
        };
        Ok(self.rpc.clone().lease_trial(req).await?.into_inner())
    }

    /// Tells the coordinator this worker leases nothing more (`Drain`);
    /// `Ok(false)` when it never registered, so there is no one to drain.
    pub async fn drain(&self) -> Result<bool, Status> {
        let Some(session) = self.session.lock().await.clone() else {
            return Ok(false);
        };
        let req = DrainRequest {
            worker_secret: self.secret(&session.worker_id),
            worker_id: session.worker_id,
        };
        self.rpc.clone().drain(req).await?;
        Ok(true)
    }

    pub async fn heartbeat(&self, mut req: HeartbeatRequest) -> Result<HeartbeatResponse, Status> {
        req.worker_secret = self.secret(&req.worker_id);
        Ok(self.rpc.clone().heartbeat(req).await?.into_inner())
    }

    /// Uploads the file at `path` once, as `header` says (its size, SHA-256
    /// and secret are filled in here): the file is read twice, once for its
    /// digest and once in chunks of at most 1 MiB as the stream is sent,
    /// never whole into memory.
    pub async fn upload_artifact(
        &self,
        mut header: ArtifactHeader,
        path: &Path,
    ) -> Result<ArtifactInfo, UploadError> {
        header.worker_secret = self.secret(&header.worker_id);
        let p = path.to_path_buf();
        let (size, sha256) = tokio::task::spawn_blocking(move || digest_file(&p))
            .await
            .map_err(|e| UploadError::Local(std::io::Error::other(e)))?
            .map_err(UploadError::Local)?;
        header.size = size;
        header.sha256 = sha256;
        let mut file = std::fs::File::open(path).map_err(UploadError::Local)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<ArtifactChunk>(2);
        let first = ArtifactChunk {
            header: Some(header),
            data: Vec::new(),
        };
        tokio::task::spawn_blocking(move || {
            if tx.blocking_send(first).is_err() {
                return;
            }
            loop {
                let mut data = Vec::with_capacity(sweep_proto::artifacts::CHUNK_BYTES);
                match (&mut file)
                    .take(sweep_proto::artifacts::CHUNK_BYTES as u64)
                    .read_to_end(&mut data)
                {
                    // A read error ends the stream short: the coordinator
                    // refuses it (DATA_LOSS) and stores nothing.
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let chunk = ArtifactChunk { header: None, data };
                        if tx.blocking_send(chunk).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let answer = self
            .upload_rpc
            .clone()
            .upload_artifact(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(UploadError::Rpc)?;
        answer
            .into_inner()
            .artifact
            .ok_or_else(|| UploadError::Rpc(Status::internal("an answer without the artifact")))
    }

    /// Sends `report` once; `Ok(stored)` when answered.
    pub async fn send_report(&self, report: &Report) -> Result<bool, Status> {
        let mut rpc = self.rpc.clone();
        let answer = match &report.outcome {
            Outcome::Completed { result_json } => {
                rpc.complete_trial(CompleteTrialRequest {
                    sweep_id: report.sweep_id.clone(),
                    worker_id: report.worker_id.clone(),
                    trial_id: report.trial_id.clone(),
                    attempt: report.attempt,
                    result_json: result_json.clone(),
                    worker_secret: self.report_secret(report),
                })
                .await?
            }
            Outcome::Failed {
                error,
                handed_back,
                cause,
            } => {
                rpc.fail_trial(FailTrialRequest {
                    sweep_id: report.sweep_id.clone(),
                    worker_id: report.worker_id.clone(),
                    trial_id: report.trial_id.clone(),
                    attempt: report.attempt,
                    error: error.clone(),
                    handed_back: *handed_back,
                    worker_secret: self.report_secret(report),
                    cause: cause.to_proto() as i32,
                })
                .await?
            }
        };
        Ok(answer.into_inner().stored)
    }

    /// Sends `report` until the coordinator answers it for good, retrying
    /// transient failures with backoff, registering again on NOT_FOUND (the
    /// report then carries the new worker id). Gives up (`Abandoned`) once
    /// `shutdown` reaches `give_up_at`.
    pub async fn deliver(
        &self,
        report: &mut Report,
        shutdown: &Shutdown,
        give_up_at: Level,
    ) -> Delivery {
        let mut backoff = Backoff::new();
        let mut reregistered = 0;
        loop {
            let status = match self.send_report(report).await {
                Ok(stored) => {
                    tracing::info!(
                        sweep = %report.sweep_id,
                        trial = %report.trial_id,
                        attempt = report.attempt,
                        worker = %report.worker_id,
                        outcome = report.outcome.kind(),
                        stored,
                        "acknowledged: the {} of trial {} attempt {}",
                        report.outcome.kind(),
                        report.trial_id,
                        report.attempt
                    );
                    return Delivery::Acknowledged { stored };
                }
                Err(status) => status,
            };
            match classify(&status) {
                Refusal::Stale => return Delivery::Stale(status.message().to_string()),
                Refusal::Rejected => {
                    return Delivery::Refused(format!("{}: {}", status.code(), status.message()))
                }
                Refusal::UnknownWorker if reregistered < MAX_REREGISTER_PER_REPORT => {
                    reregistered += 1;
                    self.forget(&report.worker_id).await;
                    match self.session(shutdown, give_up_at).await {
                        Some(s) => report.worker_id = s.worker_id,
                        None => return Delivery::Abandoned,
                    }
                }
                Refusal::UnknownWorker => {
                    return Delivery::Refused(format!("{}: {}", status.code(), status.message()))
                }
                Refusal::Transient => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        trial = %report.trial_id,
                        "cannot report trial {} attempt {} ({}: {}); retrying in {delay:?}",
                        report.trial_id,
                        report.attempt,
                        status.code(),
                        status.message()
                    );
                    if !sleep_unless(delay, shutdown, give_up_at).await {
                        return Delivery::Abandoned;
                    }
                }
            }
        }
    }
}

/// Why an upload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file cannot be read here.
    #[error("cannot read the file")]
    Local(#[source] std::io::Error),
    /// The coordinator refused it, or could not be reached.
    #[error("{}: {}", .0.code(), .0.message())]
    Rpc(Status),
}

/// The length and lowercase hex SHA-256 of the file at `path`, read in
/// chunks.
fn digest_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Sleeps `delay`; false (early) when `shutdown` reaches `level` first.
pub async fn sleep_unless(delay: Duration, shutdown: &Shutdown, level: Level) -> bool {
    let mut shutdown = shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = shutdown.reached(level) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(80) && delays[0] <= Duration::from_millis(120));
        assert!(delays[1] >= Duration::from_millis(160) && delays[1] <= Duration::from_millis(240));
        assert!(delays[9] >= Duration::from_secs(4) && delays[9] <= Duration::from_secs(6));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }

    #[test]
    fn statuses_sort_into_what_to_do() {
        assert_eq!(classify(&Status::unavailable("down")), Refusal::Transient);
        assert_eq!(classify(&Status::cancelled("timeout")), Refusal::Transient);
        assert_eq!(classify(&Status::unknown("h2")), Refusal::Transient);
        assert_eq!(
            classify(&Status::failed_precondition("old")),
            Refusal::Stale
        );
        assert_eq!(
            classify(&Status::not_found("worker")),
            Refusal::UnknownWorker
        );
        assert_eq!(
            classify(&Status::invalid_argument("json")),
            Refusal::Rejected
        );
    }

    #[tokio::test]
    async fn an_absent_coordinator_is_retried_until_shutdown() {
        // A port nobody listens on: every call fails with UNAVAILABLE.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let coord = CoordinatorClient::new(
            &format!("http://127.0.0.1:{port}"),
            RegisterRequest::default(),
        )
        .unwrap();
        let (trigger, shutdown) = super::super::shutdown::channel();
        let mut report = Report {
            sweep_id: "s".into(),
            trial_id: "t".into(),
            attempt: 1,
            worker_id: "w".into(),
            worker_secret: String::new(),
            outcome: Outcome::Completed {
                result_json: "{}".into(),
            },
        };
        let status = coord.send_report(&report).await.unwrap_err();
        assert_eq!(classify(&status), Refusal::Transient, "{status:?}");
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            trigger.escalate();
            trigger.escalate();
        });
        let started = std::time::Instant::now();
        let outcome = coord.deliver(&mut report, &shutdown, Level::Aborting).await;
        assert_eq!(outcome, Delivery::Abandoned);
        assert!(started.elapsed() >= Duration::from_millis(350));
        assert!(coord.session(&shutdown, Level::Draining).await.is_none());
        stopper.await.unwrap();
    }
}
