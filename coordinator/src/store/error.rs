//! Why a store operation was refused or failed. The service maps each kind
//! to one gRPC status code; causes travel as `source()`, not as text.

use super::model::TrialState;
use super::schema::VERSION;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file cannot be opened, read or migrated.
    #[error("cannot open database {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: OpenError,
    },
    #[error("no sweep `{0}`")]
    NoSweep(String),
    #[error("no trial `{0}`")]
    NoTrial(String),
    /// The worker id is not registered (the worker should register again).
    #[error("unknown worker `{0}`; register again")]
    UnknownWorker(String),
    /// A worker call without this worker's secret (or with a wrong one).
    #[error("worker `{0}`: missing or wrong worker_secret (the one Register returned)")]
    WrongSecret(String),
    /// A heartbeat or report on a lease another worker holds.
    #[error("trial {trial_id} attempt {attempt} is not leased to worker `{worker_id}`")]
    NotYourLease {
        trial_id: String,
        attempt: u32,
        worker_id: String,
    },
    /// A lease request of a quarantined worker.
    #[error("worker {worker_id} quarantined: {reason}")]
    Quarantined { worker_id: String, reason: String },
    /// The operating system's RNG failed (drawing a worker secret).
    #[error("cannot draw a worker secret from the OS RNG")]
    NoEntropy(#[source] rand::rand_core::OsError),
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
    /// A heartbeat or hand-back for a trial that is done, failed or
    /// cancelled: a terminal state never reopens.
    #[error("trial {trial_id} is {} and does not reopen", state.as_str())]
    TrialOver { trial_id: String, state: TrialState },
    /// A heartbeat's epoch that is not `EpochMetrics` JSON.
    #[error("epoch_json[{index}]: not EpochMetrics")]
    BadEpoch {
        index: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A heartbeat's epoch number (or count) beyond the trial's own
    /// `phase1.epochs + phase2.epochs`.
    #[error("trial {trial_id}: {field} {got} is not within the trial's {total} epochs")]
    EpochOutOfRange {
        trial_id: String,
        field: String,
        got: u32,
        total: u32,
    },
    /// A final report whose result is not `TrialResult` JSON.
    #[error("result_json: not a TrialResult")]
    BadResult(#[source] serde_json::Error),
    /// A result without the sweep's metric.
    #[error("result_json: no `{metric}` at best_epoch {best_epoch} (not among its epochs)")]
    NoMetric { metric: String, best_epoch: u32 },
    /// An upload of a file the sweep does not keep (`artifacts:`).
    #[error("sweep {sweep_id} keeps no artifact `{name}` (it keeps: {kept})")]
    NotKept {
        sweep_id: String,
        name: String,
        kept: String,
    },
    #[error("database error")]
    Sql(#[from] rusqlite::Error),
    /// A row that this code never writes (hand-edited database?).
    #[error("database holds unexpected data: {0}")]
    Corrupt(String),
    /// A stored JSON column that does not parse.
    #[error("database holds unexpected data: {column} is not valid JSON")]
    CorruptJson {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Why a database file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("cannot switch to WAL (journal_mode is {0})")]
    NotWal(String),
    /// Another coordinator (or `sweep run`) has the database open for writing.
    #[error(
        "another coordinator is using this database (it holds {}); \
         stop it first, or read the file with --db",
        lock.display()
    )]
    InUse { lock: PathBuf },
    #[error("cannot lock {}", path.display())]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A WAL database read-only: SQLite needs its `-shm` file, which is
    /// missing and cannot be made in a folder this user cannot write.
    #[error(
        "reading a WAL database needs {}, which is missing, and {} is not writable \
         to create it: read it while its coordinator runs, or copy the database to a \
         writable folder",
        shm.display(),
        dir.display()
    )]
    NoShm { shm: PathBuf, dir: PathBuf },
    #[error("it holds tables but no sweep schema version (not a coordinator database?)")]
    Foreign,
    #[error(
        "schema version {0} is not one this coordinator knows (it writes {VERSION}); \
         use the coordinator that wrote it"
    )]
    UnknownVersion(i64),
    #[error("the migration to schema version {VERSION} failed: {0}")]
    Migration(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `err` and its causes, `: `-separated (for logs and gRPC statuses).
pub use sweep_runtime::error_chain::error_chain as chain_text;
