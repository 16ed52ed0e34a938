//! `GET /metrics` over plain HTTP on `metrics_listen` (axum, nothing else
//! routed). No authentication, hence loopback unless the operator sets
//! `metrics_insecure` (checked by the settings).

use super::WorkerMetrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// The content type Prometheus scrapes (text format 0.0.4).
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the metrics address cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}")]
pub struct ListenError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Binds `addr` and serves `/metrics` in the background for the runtime's
/// life; returns the bound address (port 0 becomes the real one).
pub async fn spawn(
    addr: SocketAddr,
    metrics: Arc<WorkerMetrics>,
) -> Result<SocketAddr, ListenError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError { addr, source })?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics server stopped: {e}");
        }
    });
    Ok(bound)
}

async fn scrape(State(metrics): State<Arc<WorkerMetrics>>) -> Response {
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(e) => {
            tracing::error!("/metrics: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}
