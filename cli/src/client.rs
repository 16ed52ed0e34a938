//! The gRPC client every command uses: connects to the coordinator (with the
//! token and TLS of [`Coordinator`]'s credentials) and turns each
//! `SweepService` call's failure into a [`CliError`] naming the URL (and the
//! sweep id, for calls about one sweep). `ListTrials` is read whole, page by
//! page; answers up to [`MAX_ANSWER_BYTES`] are accepted.

use crate::error::{error_chain, CliError};
use std::time::Duration;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::{
    ArtifactData, ArtifactInfo, CancelSweepRequest, GetArtifactRequest, GetSweepRequest,
    ListArtifactsRequest, ListSweepsRequest, ListTrialsRequest, ListTrialsResponse,
    ListWorkersRequest, SubmitSweepRequest, SubmitSweepResponse, SweepSummary, WatchSweepRequest,
    WorkerInfo,
};
use sweep_runtime::credentials::{Bearer, Credentials};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Streaming;

/// Which coordinator to talk to, and how to prove who we are to it.
#[derive(Debug, Clone)]
pub struct Coordinator {
    pub url: String,
    pub credentials: Credentials,
}

impl Coordinator {
    /// `url` without a token or TLS.
    pub fn open(url: &str) -> Self {
        Self {
            url: url.to_string(),
            credentials: Credentials::none(),
        }
    }
}

/// The largest answer read: above any coordinator's page (a page is cut at
/// the coordinator's message cap, 4 MiB by default).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Trials asked for per `ListTrials` page (the coordinator may send fewer).
const PAGE_SIZE: u32 = 1000;

/// How long to wait for the TCP + HTTP/2 handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects now to `to.url` with `to.credentials`' TLS; gives the URL as
/// used (`host:port` completed) and the channel.
pub async fn connect_channel(to: &Coordinator) -> Result<(String, Channel), CliError> {
    let credentials = &to.credentials;
    let url = credentials
        .url(&to.url)
        .map_err(|e| CliError::unreachable(&to.url, e.to_string()))?;
    let endpoint = credentials
        .endpoint(&url)
        .map_err(|e| CliError::unreachable(&url, e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| CliError::unreachable(&url, error_chain(&e)))?;
    Ok((url, channel))
}

/// A connected `SweepService` client.
#[derive(Clone)]
pub struct SweepClient {
    url: String,
    client: SweepServiceClient<InterceptedService<Channel, Bearer>>,
}

impl SweepClient {
    /// Connects now without a token or TLS (`host:port` alone means
    /// `http://host:port`), so an unreachable coordinator is reported before
    /// anything else.
    pub async fn connect(url: &str) -> Result<Self, CliError> {
        Self::connect_to(&Coordinator::open(url)).await
    }

    /// Connects now to `to.url` with `to.credentials` (`host:port` alone
    /// means `https://` when TLS is set up).
    pub async fn connect_to(to: &Coordinator) -> Result<Self, CliError> {
        let (url, channel) = connect_channel(to).await?;
        Ok(Self {
            url,
            client: SweepServiceClient::with_interceptor(channel, to.credentials.bearer.clone())
                .max_decoding_message_size(MAX_ANSWER_BYTES),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, status: tonic::Status, sweep_id: Option<&str>) -> CliError {
        CliError::from_status(&status, &self.url, sweep_id)
    }

    /// Submits a sweep file's text; `source_name` is how errors name the
    /// file; `input_sha256` the fingerprints of the files its trials name
    /// (see `fingerprints`).
    pub async fn submit(
        &mut self,
        sweep_yaml: String,
        source_name: String,
        input_sha256: std::collections::HashMap<String, String>,
    ) -> Result<SubmitSweepResponse, CliError> {
        let request = SubmitSweepRequest {
            sweep_yaml,
            source_name,
            input_sha256,
        };
        match self.client.submit_sweep(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.error(s, None)),
        }
    }

    pub async fn sweep(&mut self, sweep_id: &str) -> Result<SweepSummary, CliError> {
        let request = GetSweepRequest {
            sweep_id: sweep_id.to_string(),
        };
        match self.client.get_sweep(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.error(s, Some(sweep_id))),
        }
    }

    pub async fn sweeps(&mut self) -> Result<Vec<SweepSummary>, CliError> {
        match self.client.list_sweeps(ListSweepsRequest {}).await {
            Ok(r) => Ok(r.into_inner().sweeps),
            Err(s) => Err(self.error(s, None)),
        }
    }

    pub async fn cancel(&mut self, sweep_id: &str) -> Result<SweepSummary, CliError> {
        let request = CancelSweepRequest {
            sweep_id: sweep_id.to_string(),
        };
        match self.client.cancel_sweep(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.error(s, Some(sweep_id))),
        }
    }

    /// The sweep's trials as the server ranks them; `top` = 0 for all.
    /// Every page is read and the pages joined into one answer (a trial
    /// that moved between pages while they were read is kept once).
    pub async fn trials(
        &mut self,
        sweep_id: &str,
        top: u32,
    ) -> Result<ListTrialsResponse, CliError> {
        let mut whole: Option<ListTrialsResponse> = None;
        let mut seen = std::collections::HashSet::new();
        let mut page_token = String::new();
        loop {
            let request = ListTrialsRequest {
                sweep_id: sweep_id.to_string(),
                top,
                page_size: PAGE_SIZE,
                page_token,
            };
            let mut page = match self.client.list_trials(request).await {
                Ok(r) => r.into_inner(),
                Err(s) => return Err(self.error(s, Some(sweep_id))),
            };
            page_token = std::mem::take(&mut page.next_page_token);
            let trials = std::mem::take(&mut page.trials);
            let empty = trials.is_empty();
            let all = whole.get_or_insert(page);
            all.trials.extend(
                trials
                    .into_iter()
                    .filter(|t| seen.insert(t.trial_id.clone())),
            );
            // The last page; an empty page or a whole count reached ends a
            // listing that would never end.
            if page_token.is_empty() || empty || all.trials.len() as u64 >= all.total {
                return Ok(whole.unwrap_or_default());
            }
        }
    }

    /// Every worker the coordinator knows, with its state and counts.
    pub async fn workers(&mut self) -> Result<Vec<WorkerInfo>, CliError> {
        match self.client.list_workers(ListWorkersRequest {}).await {
            Ok(r) => Ok(r.into_inner().workers),
            Err(s) => Err(self.error(s, None)),
        }
    }

    /// The artifacts of a sweep (one trial's when `trial_id` is not empty),
    /// and whether the answer left some out.
    pub async fn artifacts(
        &mut self,
        sweep_id: &str,
        trial_id: &str,
    ) -> Result<(Vec<ArtifactInfo>, bool), CliError> {
        let request = ListArtifactsRequest {
            sweep_id: sweep_id.to_string(),
            trial_id: trial_id.to_string(),
        };
        match self.client.list_artifacts(request).await {
            Ok(r) => {
                let r = r.into_inner();
                Ok((r.artifacts, r.truncated))
            }
            Err(s) => Err(self.error(s, Some(sweep_id))),
        }
    }

    /// Opens the download of one artifact.
    pub async fn artifact(
        &mut self,
        sweep_id: &str,
        trial_id: &str,
        name: &str,
    ) -> Result<ArtifactDownload, CliError> {
        let request = GetArtifactRequest {
            sweep_id: sweep_id.to_string(),
            trial_id: trial_id.to_string(),
            name: name.to_string(),
        };
        match self.client.get_artifact(request).await {
            Ok(r) => Ok(ArtifactDownload {
                inner: r.into_inner(),
            }),
            Err(s) => Err(self.error(s, None)),
        }
    }

    /// Opens the summary stream of one sweep (ends when the sweep ends).
    pub async fn watch(&mut self, sweep_id: &str) -> Result<SummaryStream, CliError> {
        let request = WatchSweepRequest {
            sweep_id: sweep_id.to_string(),
        };
        match self.client.watch_sweep(request).await {
            Ok(r) => Ok(SummaryStream {
                inner: r.into_inner(),
                client: self.clone(),
                sweep_id: sweep_id.to_string(),
            }),
            Err(s) => Err(self.error(s, Some(sweep_id))),
        }
    }
}

/// The `WatchSweep` stream of one sweep.
/// The messages of one `GetArtifact`.
pub struct ArtifactDownload {
    inner: tonic::Streaming<ArtifactData>,
}

impl ArtifactDownload {
    /// The next message; `None` after the last.
    pub async fn next(&mut self, client: &SweepClient) -> Result<Option<ArtifactData>, CliError> {
        self.inner
            .message()
            .await
            .map_err(|s| client.error(s, None))
    }
}

pub struct SummaryStream {
    inner: Streaming<SweepSummary>,
    client: SweepClient,
    sweep_id: String,
}

impl SummaryStream {
    /// The next summary, or `None` once the server ends the stream. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<SweepSummary>, CliError> {
        self.inner
            .message()
            .await
            .map_err(|s| self.client.error(s, Some(&self.sweep_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_unreachable_with_exit_2() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}");
        let err = match SweepClient::connect(&url).await {
            Ok(_) => panic!("connected to a closed port"),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), crate::error::EXIT_UNREACHABLE);
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach coordinator at {url}: ")),
            "{err}"
        );
    }
}
