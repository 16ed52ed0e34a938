//! The JSON the dashboard's pages read: sweeps, one sweep (summary,
//! parameters, importance), a page of its trials table, its learning
//! curves, its plot points, one trial, the workers. Every answer is bounded
//! (see [`crate::dashboard`]); ids longer than [`MAX_ID_BYTES`] are refused.

use super::HttpState;
use crate::dashboard::summary::{SweepJson, WorkerJson};
use crate::dashboard::table::TableQuery;
use crate::dashboard::{json, SweepView};
use crate::service::MAX_ID_BYTES;
use crate::store::{Store, StoreError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{json, Value};

use std::sync::Arc;

/// Why an API call has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("id longer than {MAX_ID_BYTES} bytes")]
    LongId,
    #[error("no sweep {0}")]
    NoSweep(String),
    #[error("no trial {0}")]
    NoTrial(String),
    #[error("store: {0}")]
    Store(StoreError),
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSweep(id) => ApiError::NoSweep(id),
            StoreError::NoTrial(id) => ApiError::NoTrial(id),
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::LongId => StatusCode::BAD_REQUEST,
            ApiError::NoSweep(_) | ApiError::NoTrial(_) => StatusCode::NOT_FOUND,
            ApiError::Store(_) | ApiError::Task(_) => {
                tracing::error!("dashboard: {self}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn checked(id: &str) -> Result<(), ApiError> {
    if id.len() > MAX_ID_BYTES {
        return Err(ApiError::LongId);
    }
    Ok(())
}

/// Runs `f` on a blocking thread with the store.
async fn blocking<T: Send + 'static>(
    state: &HttpState,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await?
}

/// The sweep's cached view.
async fn view(state: &HttpState, sweep_id: String) -> Result<Arc<SweepView>, ApiError> {
    checked(&sweep_id)?;
    let views = state.views.clone();
    blocking(state, move |store| Ok(views.get(store, &sweep_id)?)).await
}

fn to_json(value: impl serde::Serialize) -> ApiResult {
    Ok(Json(serde_json::to_value(value).unwrap_or(Value::Null)))
}

pub(super) async fn sweeps(State(state): State<HttpState>) -> ApiResult {
    let sweeps = blocking(&state, |store| Ok(store.list_sweeps()?)).await?;
    let list: Vec<SweepJson> = sweeps.iter().rev().map(SweepJson::from).collect();
    to_json(list)
}

pub(super) async fn sweep(State(state): State<HttpState>, Path(id): Path<String>) -> ApiResult {
    let view = view(&state, id).await?;
    Ok(Json(json::sweep(&view)))
}

pub(super) async fn trials(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(query): Query<TableQuery>,
) -> ApiResult {
    let view = view(&state, id).await?;
    Ok(Json(json::trials(&view, &query)))
}

pub(super) async fn sweep_curves(
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> ApiResult {
    let view = view(&state, id).await?;
    Ok(Json(json::curves(&view)))
}

pub(super) async fn sweep_points(
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> ApiResult {
    let view = view(&state, id).await?;
    Ok(Json(json::points(&view)))
}

pub(super) async fn trial(
    State(state): State<HttpState>,
    Path((sweep_id, trial_id)): Path<(String, String)>,
) -> ApiResult {
    checked(&trial_id)?;
    let view = view(&state, sweep_id).await?;
    let id = trial_id.clone();
    let doc = blocking(&state, move |store| Ok(json::trial(store, &view, &id)?)).await?;
    doc.map(Json).ok_or(ApiError::NoTrial(trial_id))
}

pub(super) async fn workers(State(state): State<HttpState>) -> ApiResult {
    let (workers, sweeps) = blocking(&state, |store| {
        Ok((store.list_workers()?, store.list_sweeps()?))
    })
    .await?;
    let running: Vec<(String, String, String)> = sweeps
        .iter()
        .flat_map(|s| {
            s.running
                .iter()
                .map(|r| (s.sweep_id.clone(), r.trial_id.clone(), r.worker_id.clone()))
        })
        .collect();
    let list: Vec<WorkerJson> = workers
        .iter()
        .map(|w| WorkerJson::new(w, &running))
        .collect();
    to_json(list)
}
