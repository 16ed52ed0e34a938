//! Starts the coordinator: opens the store, serves `sweep.v1` (and the gRPC
//! health service) on a listener until the shutdown future completes.

use std::path::PathBuf;
use std::time::Duration;

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

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = (config, listener, shutdown);
    anyhow::bail!("not written yet")
}
