//! The coordinator's HTTP side, on its own address (`http_listen`, off
//! unless configured): the dashboard (pages, their JSON, live updates) and
//! Prometheus metrics at `/metrics`, all behind the same client-role tokens
//! as `SweepService`.
//!
//! - [`auth`]: who may read (a bearer header, or the cookie `/login` sets
//!   from a token given once).
//! - [`pages`]: the HTML shells; [`assets`]: ECharts, the script, the styles.
//! - [`api`]: the JSON the pages read; [`views`]: sweeps read once per change.
//! - [`events`]: server-sent events from the change feed (live pages).
//! - [`metrics`]: `GET /metrics` in the Prometheus text format.
//!
//! Nothing here answers before the caller is authenticated (only `/login`
//! itself, and the refusal); request bodies are capped at
//! [`MAX_BODY_BYTES`]; every answer is bounded (see [`crate::dashboard`]).

pub mod api;
pub mod assets;
mod auth;
pub mod events;
mod metrics;
mod pages;
pub mod views;

use crate::auth::Gate;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The largest request body read (a login form).
pub const MAX_BODY_BYTES: usize = 4096;

/// What every handler reads.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub gate: Gate,
    /// Sweeps read for display, until they change.
    pub views: views::ViewCache,
    /// One permit per open event stream (`max_watchers` in all).
    pub event_streams: Arc<Semaphore>,
    /// Turns true when the coordinator stops (event streams end).
    pub stop: watch::Receiver<bool>,
}

/// Every route, the gated ones behind [`auth::require_client`].
pub fn router(state: HttpState) -> Router {
    let gated = Router::new()
        .route("/", get(pages::sweeps_page))
        .route("/sweeps/{id}", get(pages::sweep_page))
        .route("/sweeps/{id}/trials/{trial}", get(pages::trial_page))
        .route("/workers", get(pages::workers_page))
        .route(assets::ECHARTS_PATH, get(assets::echarts))
        .route("/assets/dashboard.js", get(assets::dashboard_js))
        .route("/assets/dashboard.css", get(assets::dashboard_css))
        .route("/api/sweeps", get(api::sweeps))
        .route("/api/sweeps/{id}", get(api::sweep))
        .route("/api/sweeps/{id}/trials", get(api::trials))
        .route("/api/sweeps/{id}/trials/{trial}", get(api::trial))
        .route("/api/sweeps/{id}/curves", get(api::sweep_curves))
        .route("/api/sweeps/{id}/points", get(api::sweep_points))
        .route("/api/sweeps/{id}/events", get(events::events))
        .route("/api/workers", get(api::workers))
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

/// Serves `router(state)` on `listener` until `state.stop` turns true (or
/// its sender is gone).
pub async fn serve(listener: TcpListener, state: HttpState) -> std::io::Result<()> {
    let mut stop = state.stop.clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}
