//! Starts the coordinator: opens the store, serves `sweep.v1` (and the gRPC
//! health service, both services SERVING) on a listener, runs the lease
//! expiry in the background, and shuts all of it down when the shutdown
//! future completes (open `WatchSweep` streams end, in-flight calls finish).

use crate::service::{SweepApi, WorkerApi};
use crate::store::{Store, StoreOptions, DEFAULT_LEASE};
use crate::sweepfile::DEFAULT_MAX_GRID;
use anyhow::Context;
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

/// What a coordinator needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// SQLite database file (created if missing).
    pub db_path: PathBuf,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// Largest grid a sweep file may expand to.
    pub max_grid: u64,
}

impl Default for ServerConfig {
    /// `sweep.db` in the working directory, 30 s leases, grids up to 10,000.
    fn default() -> Self {
        Self {
            db_path: PathBuf::from(crate::config::DEFAULT_DB),
            lease: DEFAULT_LEASE,
            max_grid: DEFAULT_MAX_GRID,
        }
    }
}

/// A coordinator whose store is open, ready to serve.
#[derive(Debug)]
pub struct Coordinator {
    store: Arc<Store>,
    config: ServerConfig,
}

impl Coordinator {
    /// Opens (creating or migrating) the database; fails naming its path.
    pub fn open(config: ServerConfig) -> anyhow::Result<Coordinator> {
        let store = Store::open(
            &config.db_path,
            StoreOptions {
                lease: config.lease,
                ..StoreOptions::default()
            },
        )?;
        Ok(Coordinator {
            store: Arc::new(store),
            config,
        })
    }

    /// The store, for in-process callers.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener
            .local_addr()
            .context("listener has no local address")?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<SweepServiceServer<SweepApi>>().await;
        health.set_serving::<WorkerServiceServer<WorkerApi>>().await;

        let expiry = tokio::spawn(expire_periodically(
            self.store.clone(),
            expiry_period(self.config.lease),
            stop_rx.clone(),
        ));
        tracing::info!(
            "coordinator on {addr}: db {}, lease {} ms, max grid {}",
            self.config.db_path.display(),
            self.store.lease_ms(),
            self.config.max_grid
        );

        let incoming = TcpListenerStream::new(listener).map(|conn| {
            let conn = conn?;
            // Small request/answer pairs: do not let Nagle hold them back.
            conn.set_nodelay(true)?;
            Ok::<_, std::io::Error>(conn)
        });
        let sweeps = SweepApi::new(self.store.clone(), self.config.max_grid, stop_rx);
        let workers = WorkerApi::new(self.store.clone());
        let stopping = async move {
            shutdown.await;
            tracing::info!("shutting down");
            health
                .set_not_serving::<SweepServiceServer<SweepApi>>()
                .await;
            health
                .set_not_serving::<WorkerServiceServer<WorkerApi>>()
                .await;
            let _ = stop_tx.send(true);
        };
        let served = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(SweepServiceServer::new(sweeps))
            .add_service(WorkerServiceServer::new(workers))
            .serve_with_incoming_shutdown(incoming, stopping)
            .await
            .context("gRPC server failed");
        let _ = expiry.await;
        release(self.store).await;
        served
    }
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let coordinator = tokio::task::spawn_blocking(move || Coordinator::open(config))
        .await
        .context("opening the store panicked")??;
    coordinator.run(listener, shutdown).await
}

/// Waits (up to 2 s) for the last watch streams to drop their handle on the
/// store, so that the database file (held exclusively) is closed when
/// [`Coordinator::run`] returns and can be opened again at once.
async fn release(store: Arc<Store>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while Arc::strong_count(&store) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if Arc::strong_count(&store) > 1 {
        tracing::warn!("the store is still in use after shutdown");
    }
}

/// A quarter of the lease, between 10 ms and 10 s.
fn expiry_period(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
}

/// Takes back expired leases every `period` until `stop` turns true.
async fn expire_periodically(store: Arc<Store>, period: Duration, mut stop: watch::Receiver<bool>) {
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
            Ok(Ok(n)) => tracing::info!("{n} lease(s) expired"),
            Ok(Err(e)) => tracing::error!("lease expiry: {e}"),
            Err(e) => tracing::error!("lease expiry task: {e}"),
        }
    }
}
