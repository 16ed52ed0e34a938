//! Why a store operation was refused or failed. The service maps each kind
//! to one gRPC status code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file cannot be opened, read or migrated.
    #[error("cannot open database {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("no sweep `{0}`")]
    NoSweep(String),
    #[error("no trial `{0}`")]
    NoTrial(String),
    /// The worker id is not registered (the worker should register again).
    #[error("unknown worker `{0}`; register again")]
    UnknownWorker(String),
    /// A report or heartbeat of an attempt that is not the trial's latest.
    #[error("trial {trial_id}: stale attempt {got}, current is {current}")]
    StaleAttempt {
        trial_id: String,
        got: u32,
        current: u32,
    },
    /// A heartbeat of an attempt whose final report was already stored.
    #[error("trial {trial_id}: attempt {attempt} was already reported")]
    AlreadyReported { trial_id: String, attempt: u32 },
    /// A malformed request (bad JSON in a report, ...).
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A row that this code never writes (hand-edited database?).
    #[error("database holds unexpected data: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
