//! The coordinator's state in SQLite: sweeps, trials, epochs, workers.
//!
//! The store is the state machine; it knows nothing of gRPC. Every change is
//! one committed transaction (WAL, `synchronous=FULL`) before the method
//! returns, so whatever a caller acknowledges is on disk. The connection
//! sits behind a `std::sync::Mutex`: operations are short and synchronous,
//! and callers in async code run them on a blocking thread.
//!
//! - [`sweeps`](Store::create_sweep): store a checked sweep, cancel it,
//!   summarise it, rank its trials.
//! - [`worker_registry`](Store::register_worker): register workers, check
//!   their secrets ([`secrets`]: only SHA-256 digests are stored), drain them.
//! - [`worker_health`](Store::list_workers): each worker's outcomes,
//!   quarantine after environment failures, worker states and counts.
//! - [`leases`](Store::lease): hand out trials; [`expiry`](Store::expire_leases):
//!   take back those whose lease was not renewed.
//! - [`reports`](Store::heartbeat): heartbeats and final reports, fenced by
//!   attempt number; `early_stopping` stops trials on a heartbeat's epochs.
//! - `reuse`: at submit, a trial that finished done in an earlier sweep on
//!   the same input files is stored done as its copy, never leased.
//! - `proposals`: a TPE sweep's next trial, made and stored when a worker
//!   asks for work.
//! - [`artifacts`](Store::record_artifact): files kept with a trial (rows
//!   that make them visible, upload fencing, pruning of best weights to the
//!   sweep's top k).
//! - [`dashboard_reads`](Store::sweep_curves): every trial's learning curve,
//!   one trial's documents and reported outcomes, for the dashboard.
//! - [`resume`](Store::latest_sweep_from): find the sweep a file started, and
//!   take back leases of workers known to be gone.
//!
//! Lease deadlines are measured on a monotonic clock ([`Clock`]), so a
//! wall-clock step changes none. Opening a database gives every running
//! trial a fresh deadline: the old clock measured nothing while the
//! coordinator was down, and its origin was the old process's.

mod artifacts;
mod bundles;
mod clock;
mod dashboard_reads;
mod early_stopping;
mod epoch_bounds;
mod error;
mod expiry;
mod feed;
mod ids;
mod lease_requests;
mod leases;
mod model;
mod paging;
mod policy;
mod proposals;
mod reported_trial;
mod reports;
mod resume;
mod reuse;
mod schema;
mod secrets;
mod share_groups;
mod sweeps;
mod worker_health;
mod worker_registry;
mod writer_lock;

pub use artifacts::{ArtifactKey, ArtifactRow, ArtifactUpload, UploadTarget, MAX_LISTED_ARTIFACTS};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dashboard_reads::TrialOutcome;
pub use error::{chain_text, OpenError, StoreError, StoreResult};
pub use model::*;
pub use paging::TrialPage;
pub use policy::WorkerPolicy;
pub use reuse::{InputFingerprints, Submitted};
pub use writer_lock::lock_path;

use feed::ChangeFeed;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use writer_lock::WriterLock;

/// The default lease: how long a trial stays with a worker without a heartbeat.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub lease: Duration,
    pub clock: Arc<dyn Clock>,
    pub policy: WorkerPolicy,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            lease: DEFAULT_LEASE,
            clock: Arc::new(SystemClock),
            policy: WorkerPolicy::default(),
        }
    }
}

/// The SQLite store. Share it with an `Arc`.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    lease_ms: u64,
    clock: Arc<dyn Clock>,
    policy: WorkerPolicy,
    feed: ChangeFeed,
    commit_observer: OnceLock<CommitObserver>,
    /// A writer's hold on the database (`sweep.db.lock`); `None` for a
    /// read-only store. Declared last: dropped after the connection closes.
    _writer: Option<WriterLock>,
}

/// Told how long each committed write transaction took (for metrics).
struct CommitObserver(Box<dyn Fn(Duration) + Send + Sync>);

impl std::fmt::Debug for CommitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitObserver")
    }
}

/// Sweeps whose state a write changed (their watchers are told after commit).
type Changed = Vec<String>;

/// The time a write happens at, read once per transaction.
#[derive(Debug, Clone, Copy)]
struct Now {
    /// Unix milliseconds, for the times people read.
    wall_ms: u64,
    /// Milliseconds on the process's monotonic clock, for lease deadlines.
    monotonic_ms: u64,
}

impl Store {
    /// Opens (creating if missing) the database at `path`, migrates it, and
    /// gives running trials a fresh lease deadline. Refused while another
    /// store holds the database for writing (its lock file, `sweep.db.lock`).
    pub fn open(path: &Path, options: StoreOptions) -> StoreResult<Store> {
        let opened = WriterLock::acquire(path).and_then(|lock| Ok((Self::connect(path)?, lock)));
        let (conn, writer) = opened.map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            lease_ms: options.lease.as_millis().max(1) as u64,
            clock: options.clock,
            policy: options.policy,
            feed: ChangeFeed::default(),
            commit_observer: OnceLock::new(),
            _writer: Some(writer),
        };
        let renewed =
            store.write(|tx, now, _| expiry::renew_all(tx, now.monotonic_ms + store.lease_ms))?;
        if renewed > 0 {
            tracing::info!(
                "{renewed} trial(s) were running when the coordinator stopped; their leases restart now"
            );
        }
        Ok(store)
    }

    /// Opens an existing database only to read it (`SQLITE_OPEN_READ_ONLY`,
    /// `query_only`): no migration, no lease renewal, every write refused.
    /// For `sweep leaderboard|status|report --db`, also while a coordinator
    /// runs: WAL readers see its last commit and never block it. It needs no
    /// write access to the database file, but SQLite's WAL readers need the
    /// `-shm` beside it: made if missing, which needs a writable folder.
    pub fn open_read_only(path: &Path) -> StoreResult<Store> {
        let open = || -> Result<Connection, OpenError> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            schema::configure_read_only(&conn)?;
            Ok(conn)
        };
        let conn = open()
            .map_err(|e| schema::explain_read_only_failure(path, e))
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let options = StoreOptions::default();
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            lease_ms: options.lease.as_millis() as u64,
            clock: options.clock,
            policy: options.policy,
            feed: ChangeFeed::default(),
            commit_observer: OnceLock::new(),
            _writer: None,
        })
    }

    /// A configured connection on a database with the current layout.
    fn connect(path: &Path) -> Result<Connection, OpenError> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long a lease lasts without a heartbeat, in milliseconds.
    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// The limits on hand-backs, quarantine and poison trials.
    pub fn policy(&self) -> WorkerPolicy {
        self.policy
    }

    /// A worker not heard from for this long is gone: two leases.
    fn gone_after_ms(&self) -> u64 {
        self.lease_ms.saturating_mul(2)
    }

    /// A receiver that changes after every committed write to `sweep_id`.
    pub fn subscribe(&self, sweep_id: &str) -> watch::Receiver<u64> {
        self.feed.subscribe(sweep_id)
    }

    /// Calls `observer` with the time each later write transaction took, from
    /// its start to its commit (fsync included). Only the first one is kept.
    pub fn observe_commits(&self, observer: impl Fn(Duration) + Send + Sync + 'static) {
        let _ = self.commit_observer.set(CommitObserver(Box::new(observer)));
    }

    /// Runs `f` in one immediate transaction and commits it; then tells the
    /// watchers of the sweeps `f` marked as changed.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction, Now, &mut Changed) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut changed = Changed::new();
        let value = {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let started = Instant::now();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = Now {
                wall_ms: self.clock.wall_ms(),
                monotonic_ms: self.clock.monotonic_ms(),
            };
            let value = f(&tx, now, &mut changed)?;
            tx.commit()?;
            if let Some(CommitObserver(observe)) = self.commit_observer.get() {
                observe(started.elapsed());
            }
            value
        };
        changed.sort();
        changed.dedup();
        for id in &changed {
            self.feed.notify(id);
        }
        Ok(value)
    }

    /// Runs `f` on the connection (reads see only committed state).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}
