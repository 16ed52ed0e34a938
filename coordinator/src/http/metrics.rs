//! `GET /metrics`: the coordinator's [`Metrics`](crate::metrics::Metrics),
//! refreshed from the store, in the Prometheus text exposition format.

use super::HttpState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The content type Prometheus scrapes (text format 0.0.4).
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(State(state): State<HttpState>) -> Response {
    let scraped = tokio::task::spawn_blocking(move || state.metrics.scrape(&state.store)).await;
    match scraped {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Ok(Err(e)) => {
            tracing::error!("/metrics: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
        Err(e) => {
            tracing::error!("/metrics task: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
