//! Store errors as gRPC statuses: unknown ids → NOT_FOUND, stale or
//! already-reported attempts → FAILED_PRECONDITION, malformed reports →
//! INVALID_ARGUMENT, database trouble → INTERNAL (and logged).

use crate::store::StoreError;
use tonic::Status;

pub fn from_store(err: StoreError) -> Status {
    let text = err.to_string();
    match err {
        StoreError::NoSweep(_) | StoreError::NoTrial(_) | StoreError::UnknownWorker(_) => {
            Status::not_found(text)
        }
        StoreError::StaleAttempt { .. } | StoreError::AlreadyReported { .. } => {
            Status::failed_precondition(text)
        }
        StoreError::Invalid(_) => Status::invalid_argument(text),
        StoreError::Open { .. } | StoreError::Sql(_) | StoreError::Corrupt(_) => {
            tracing::error!("store: {text}");
            Status::internal(text)
        }
    }
}
