//! The `sweep.v1` gRPC services over the [`Store`]: requests are mapped to
//! store calls (run on blocking threads, since each one commits to disk
//! before it returns) and store answers and errors to protobuf messages and
//! status codes. No state lives here.
//!
//! - [`SweepApi`]: `SweepService`, for clients (submit, inspect, cancel, watch).
//! - [`WorkerApi`]: `WorkerService`, for workers (register, lease, report).
//! - [`reflection_v1`], [`reflection_v1alpha`]: gRPC server reflection.

mod bounds;
pub mod convert;
mod limits;
mod paging;
mod reflection;
mod status_codes;
mod sweep_service;
mod watch;
mod worker_service;

pub use bounds::{
    MAX_EPOCHS_PER_HEARTBEAT, MAX_EPOCH_JSON_BYTES, MAX_ERROR_BYTES, MAX_HOSTNAME_BYTES,
    MAX_ID_BYTES, MAX_RESULT_JSON_BYTES, MAX_SOURCE_NAME_BYTES, MAX_VERSION_BYTES,
};
pub use limits::{
    ServiceLimits, DEFAULT_MAX_ARTIFACT_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_WATCHERS,
};
pub use paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use reflection::{reflection_v1, reflection_v1alpha};
pub use sweep_service::{ArtifactStream, SweepApi};
pub use worker_service::WorkerApi;

use crate::store::{Store, StoreResult};
use std::sync::Arc;
use tonic::Status;

/// Runs a store operation on a blocking thread; store errors become statuses.
async fn on_store<T: Send + 'static>(
    store: &Arc<Store>,
    op: impl FnOnce(&Store) -> StoreResult<T> + Send + 'static,
) -> Result<T, Status> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || op(&store))
        .await
        .map_err(|e| Status::internal(format!("store task failed: {e}")))?
        .map_err(status_codes::from_store)
}

/// Refuses an empty id field.
fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(Status::invalid_argument(format!("`{field}` is empty")));
    }
    Ok(())
}
