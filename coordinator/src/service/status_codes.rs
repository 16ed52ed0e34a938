//! Store errors as gRPC statuses: unknown ids → NOT_FOUND, a wrong worker
//! secret or another worker's lease → PERMISSION_DENIED, stale,
//! already-reported or finished attempts and a quarantined worker's lease
//! request → FAILED_PRECONDITION, malformed
//! reports → INVALID_ARGUMENT, database trouble → INTERNAL (and logged). The
//! message carries the error's causes.

use crate::store::{chain_text, StoreError};
use tonic::Status;

pub fn from_store(err: StoreError) -> Status {
    let text = chain_text(&err);
    match err {
        StoreError::NoSweep(_) | StoreError::NoTrial(_) | StoreError::UnknownWorker(_) => {
            Status::not_found(text)
        }
        StoreError::WrongSecret(_) | StoreError::NotYourLease { .. } => {
            Status::permission_denied(text)
        }
        StoreError::StaleAttempt { .. }
        | StoreError::AlreadyReported { .. }
        | StoreError::Quarantined { .. }
        | StoreError::TrialOver { .. } => Status::failed_precondition(text),
        StoreError::BadEpoch { .. }
        | StoreError::EpochOutOfRange { .. }
        | StoreError::BadResult(_)
        | StoreError::NoMetric { .. }
        | StoreError::NotKept { .. } => Status::invalid_argument(text),
        StoreError::Open { .. }
        | StoreError::NoEntropy(_)
        | StoreError::Sql(_)
        | StoreError::Corrupt(_)
        | StoreError::CorruptJson { .. } => {
            tracing::error!("store: {text}");
            Status::internal(text)
        }
    }
}
