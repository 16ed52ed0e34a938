//! Starts the coordinator: opens the store, serves `sweep.v1` (and the gRPC
//! health service, both services SERVING) on a listener, runs the lease
//! expiry in the background, and shuts all of it down when the shutdown
//! future completes (open `WatchSweep` streams end, in-flight calls finish).
//!
//! Both services sit behind the [`Security`]'s gate (`SweepService` for the
//! client role, `WorkerService` for the worker role, see [`crate::auth`]) and
//! its TLS, if any; the health service stays open for probes. gRPC server
//! reflection (v1 and v1alpha) is for the client role too. Both decode and
//! encode messages up to the configured [`ServiceLimits::max_message_bytes`].

use crate::artifacts::{self, ArtifactFiles};
use crate::auth::Role;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::security::Security;
use crate::service::{reflection_v1, reflection_v1alpha, ServiceLimits, SweepApi, WorkerApi};
use crate::store::{Store, StoreError, StoreOptions, WorkerPolicy};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use sweep_proto::v1::sweep_service_server::SweepServiceServer;
use sweep_proto::v1::worker_service_server::WorkerServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tonic::service::interceptor::InterceptedService;

/// What a coordinator needs to run (see [`crate::config::Settings`] for
/// where each value comes from).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// SQLite database file (created if missing).
    pub db_path: PathBuf,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// Largest grid a sweep file may expand to.
    pub max_grid: u64,
    /// Hand-back cap, quarantine and poison-trial limits.
    pub policy: WorkerPolicy,
    /// Message size, sweep file size and watcher caps.
    pub limits: ServiceLimits,
}

/// Why the coordinator could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot open the artifacts folder {}", path.display())]
    Artifacts {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the store panicked: {0}")]
    OpenPanicked(tokio::task::JoinError),
    #[error("listener has no local address: {0}")]
    NoLocalAddress(std::io::Error),
    #[error("TLS set-up failed: {0}")]
    Tls(tonic::transport::Error),
    #[error("server reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// How long, after the gRPC server stopped, the last `WatchSweep` streams
/// get to let go of the store.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// A coordinator whose store is open, ready to serve.
#[derive(Debug)]
pub struct CoordinatorServer {
    store: Arc<Store>,
    config: ServerConfig,
    security: Security,
    metrics: Arc<Metrics>,
    http: Option<TcpListener>,
    artifacts: Arc<ArtifactFiles>,
}

impl CoordinatorServer {
    /// Opens (creating or migrating) the database, then the artifacts
    /// folder beside it (`artifacts/`, see [`crate::artifacts`]: temp files
    /// and files without a row, left by a kill, are removed); fails naming
    /// the path.
    pub fn open(config: ServerConfig) -> Result<Self, ServerError> {
        let store = Store::open(
            &config.db_path,
            StoreOptions {
                lease: config.lease,
                policy: config.policy,
                ..StoreOptions::default()
            },
        )?;
        let metrics = Arc::new(Metrics::new());
        store.observe_commits(metrics.commit_observer());
        let root = artifacts::dir_beside(&config.db_path);
        let (files, swept) =
            ArtifactFiles::open(&root, &store.artifact_keys()?).map_err(|source| {
                ServerError::Artifacts {
                    path: root.clone(),
                    source,
                }
            })?;
        if swept.temp_files + swept.orphans > 0 {
            tracing::info!(
                "artifacts: removed {} unfinished upload(s) and {} file(s) without a row in {}",
                swept.temp_files,
                swept.orphans,
                root.display()
            );
        }
        Ok(Self {
            store: Arc::new(store),
            config,
            security: Security::open(),
            metrics,
            http: None,
            artifacts: Arc::new(files),
        })
    }

    /// Serves behind `security`'s gate and TLS (without it: no tokens, no TLS).
    pub fn with_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Also serves the HTTP side (`/metrics`) on `listener`, behind the
    /// same client tokens.
    pub fn with_http(mut self, listener: TcpListener) -> Self {
        self.http = Some(listener);
        self
    }

    /// The metrics, for in-process callers.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The store, for in-process callers.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Serves on `listener` until `shutdown` resolves. When it returns, the
    /// database file is closed and can be opened again at once.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = listener.local_addr().map_err(ServerError::NoLocalAddress)?;
        let limits = self.config.limits.clone();
        let Security { gate, tls } = self.security;
        let tls_on = tls.is_some();
        let mut builder = tonic::transport::Server::builder().layer(self.metrics.rpc_layer());
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(ServerError::Tls)?;
        }
        let reflection = reflection_v1()?;
        let reflection_alpha = reflection_v1alpha()?;
        // Every task that holds the store also holds a receiver of `stop`
        // (the sweep service and each of its watch streams, the expiry):
        // once the last receiver is dropped, nothing uses the store any more.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<SweepServiceServer<SweepApi>>().await;
        health.set_serving::<WorkerServiceServer<WorkerApi>>().await;

        let expiry = tokio::spawn(expire_periodically(
            self.store.clone(),
            expiry_period(self.config.lease),
            self.metrics.clone(),
            stop_rx.clone(),
        ));
        let http = self.http.map(|listener| {
            let state = HttpState {
                store: self.store.clone(),
                metrics: self.metrics.clone(),
                gate: gate.clone(),
                views: Default::default(),
                event_streams: Arc::new(tokio::sync::Semaphore::new(limits.max_watchers)),
                stop: stop_rx.clone(),
            };
            if let Ok(addr) = listener.local_addr() {
                tracing::info!("dashboard and metrics on http://{addr}");
            }
            tokio::spawn(http::serve(listener, state))
        });
        tracing::info!(
            "coordinator on {addr}: db {}, lease {} ms, max grid {}, max message {} B, \
             max sweep file {} B, max watchers {}, tokens {}, TLS {}",
            self.config.db_path.display(),
            self.store.lease_ms(),
            self.config.max_grid,
            limits.max_message_bytes,
            limits.max_sweep_file_bytes,
            limits.max_watchers,
            if gate.is_open() { "off" } else { "on" },
            if tls_on { "on" } else { "off" },
        );
        if gate.is_open() {
            tracing::warn!("no token files: anyone who can reach {addr} can call every RPC");
        }

        let incoming = TcpListenerStream::new(listener).map(|conn| {
            let conn = conn?;
            // Small request/answer pairs: do not let Nagle hold them back.
            conn.set_nodelay(true)?;
            Ok::<_, std::io::Error>(conn)
        });
        let sweeps = SweepApi::new(self.store.clone(), self.config.max_grid, stop_rx)
            .with_limits(&limits)
            .with_artifacts(self.artifacts.clone());
        let workers = WorkerApi::new(self.store.clone())
            .with_metrics(self.metrics.clone())
            .with_artifacts(self.artifacts.clone(), limits.max_artifact_bytes);
        let stop_signal = stop_tx.clone();
        let stopping = async move {
            shutdown.await;
            tracing::info!("shutting down");
            health
                .set_not_serving::<SweepServiceServer<SweepApi>>()
                .await;
            health
                .set_not_serving::<WorkerServiceServer<WorkerApi>>()
                .await;
            let _ = stop_signal.send(true);
        };
        let served = builder
            .add_service(health_service)
            .add_service(InterceptedService::new(
                reflection,
                gate.for_role(Role::Client),
            ))
            .add_service(InterceptedService::new(
                reflection_alpha,
                gate.for_role(Role::Client),
            ))
            .add_service(InterceptedService::new(
                SweepServiceServer::new(sweeps)
                    .max_decoding_message_size(limits.max_message_bytes)
                    .max_encoding_message_size(limits.max_message_bytes),
                gate.for_role(Role::Client),
            ))
            .add_service(InterceptedService::new(
                WorkerServiceServer::new(workers)
                    .max_decoding_message_size(limits.max_message_bytes)
                    .max_encoding_message_size(limits.max_message_bytes),
                gate.for_role(Role::Worker),
            ))
            .serve_with_incoming_shutdown(incoming, stopping)
            .await;
        // A failed server never ran `stopping`: tell the others now.
        let _ = stop_tx.send(true);
        let _ = expiry.await;
        if let Some(http) = http {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("HTTP server: {e}"),
                Err(e) => tracing::error!("HTTP server task: {e}"),
            }
        }
        release(self.store, stop_tx).await;
        Ok(served?)
    }
}

/// Opens the store (on a blocking thread) and serves on `listener` until
/// `shutdown` resolves, without tokens or TLS.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_secured(config, Security::open(), listener, shutdown).await
}

/// [`serve`] behind `security`'s gate and TLS.
pub async fn serve_secured(
    config: ServerConfig,
    security: Security,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let server = tokio::task::spawn_blocking(move || CoordinatorServer::open(config))
        .await
        .map_err(ServerError::OpenPanicked)??;
    server.with_security(security).run(listener, shutdown).await
}

/// Waits (up to [`RELEASE_WAIT`]) until every receiver of `stop` is
/// dropped, then drops the last handle on the store, closing the database
/// file and then its lock file (`sweep.db.lock`).
async fn release(store: Arc<Store>, stop: watch::Sender<bool>) {
    if tokio::time::timeout(RELEASE_WAIT, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("watch streams still open {RELEASE_WAIT:?} after shutdown");
    }
    if Arc::into_inner(store).is_none() {
        tracing::warn!("the store is still in use after shutdown");
    }
}

/// A quarter of the lease, between 10 ms and 10 s.
fn expiry_period(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
}

/// Takes back expired leases every `period` until `stop` turns true.
async fn expire_periodically(
    store: Arc<Store>,
    period: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.expire_leases()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                metrics.leases_expired(n as u64);
                tracing::info!("{n} lease(s) expired");
            }
            Ok(Err(e)) => tracing::error!("lease expiry: {e}"),
            Err(e) => tracing::error!("lease expiry task: {e}"),
        }
    }
}
