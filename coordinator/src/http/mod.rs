//! The coordinator's HTTP side, on its own address (`http_listen`, off
//! unless configured): Prometheus metrics at `/metrics`, behind the same
//! client-role tokens as `SweepService`.
//!
//! - [`auth`]: who may read (a bearer header, or the cookie `/login` sets
//!   from a token given once).
//! - [`metrics`]: `GET /metrics` in the Prometheus text format.
//!
//! Nothing here answers before the caller is authenticated (only `/login`
//! itself, and the refusal); request bodies are capped at
//! [`MAX_BODY_BYTES`].

mod auth;
mod metrics;

use crate::auth::Gate;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request body read (a login form).
pub const MAX_BODY_BYTES: usize = 4096;

/// What every handler reads.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub gate: Gate,
}

/// Every route, the gated ones behind [`auth::require_client`].
pub fn router(state: HttpState) -> Router {
    let gated = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_client,
        ));
    Router::new()
        .merge(gated)
        .route("/login", get(auth::login_form).post(auth::login))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `stop` turns true (or its
/// sender is gone).
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}
