//! The database layout, the connection settings (WAL, synchronous=FULL) and
//! the migration run at open. `PRAGMA user_version` records the layout's
//! version; a database from a newer coordinator is refused, not guessed at.

use super::error::OpenError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The layout this code writes.
pub const VERSION: i64 = 6;

const V1: &str = r#"
CREATE TABLE sweeps (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    source_name  TEXT    NOT NULL,
    yaml         TEXT    NOT NULL,
    metric_name  TEXT    NOT NULL,
    goal         TEXT    NOT NULL CHECK (goal IN ('maximize', 'minimize')),
    method       TEXT    NOT NULL,
    parallelism  INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    -- 'running' or 'cancelled'; finished is derived from the trials.
    state        TEXT    NOT NULL CHECK (state IN ('running', 'cancelled')),
    created_ms   INTEGER NOT NULL
);

CREATE TABLE trials (
    sweep_id          TEXT    NOT NULL REFERENCES sweeps(id),
    trial_id          TEXT    NOT NULL,
    idx               INTEGER NOT NULL,
    config_json       TEXT    NOT NULL,
    params_json       TEXT    NOT NULL,
    state             TEXT    NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    -- Number of the latest lease (0 = never leased).
    attempt           INTEGER NOT NULL DEFAULT 0,
    -- Attempts that count toward max_attempts, and the latest one counted
    -- (so that no attempt is counted twice).
    attempts_counted  INTEGER NOT NULL DEFAULT 0,
    counted_attempt   INTEGER NOT NULL DEFAULT 0,
    -- The latest attempt whose final report (complete/fail) is stored.
    reported_attempt  INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT    NOT NULL DEFAULT '',
    leased_at_ms      INTEGER,
    lease_deadline_ms INTEGER,
    result_json       TEXT,
    metric            REAL,
    test_acc          REAL,
    best_epoch        INTEGER NOT NULL DEFAULT 0,
    wall_s            REAL    NOT NULL DEFAULT 0,
    last_error        TEXT    NOT NULL DEFAULT '',
    epochs_done       INTEGER NOT NULL DEFAULT 0,
    total_epochs      INTEGER NOT NULL,
    last_val_acc      REAL,
    PRIMARY KEY (sweep_id, trial_id),
    UNIQUE (sweep_id, idx)
);
CREATE INDEX trials_by_sweep_state ON trials(sweep_id, state, idx);
CREATE INDEX trials_by_state_deadline ON trials(state, lease_deadline_ms);
CREATE INDEX trials_by_trial_id ON trials(trial_id, state);

CREATE TABLE epochs (
    sweep_id TEXT    NOT NULL,
    trial_id TEXT    NOT NULL,
    attempt  INTEGER NOT NULL,
    epoch    INTEGER NOT NULL,
    json     TEXT    NOT NULL,
    PRIMARY KEY (sweep_id, trial_id, attempt, epoch)
) WITHOUT ROWID;

CREATE TABLE workers (
    id            TEXT    PRIMARY KEY,
    hostname      TEXT    NOT NULL,
    cores         INTEGER NOT NULL,
    slots         INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    registered_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);
"#;

/// Version 2: lease requests, so that a retried `LeaseTrial` (same worker,
/// same request id) gets the same assignment back, even after a restart.
/// `trials.lease_deadline_ms` now counts on the coordinator's monotonic clock
/// (from the process's start); running trials get a fresh one at every open.
const V2: &str = r#"
CREATE TABLE lease_requests (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id  TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    sweep_id   TEXT    NOT NULL,
    trial_id   TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    UNIQUE (worker_id, request_id),
    FOREIGN KEY (sweep_id, trial_id) REFERENCES trials(sweep_id, trial_id)
);
"#;

/// Version 3: who may report, and how workers fare.
/// - `workers.secret_sha256`: the SHA-256 of the secret `Register` handed
///   out; every later call of the worker must present the secret. Workers
///   registered before version 3 have none (`NULL`) and must register again.
/// - `workers.draining`: the worker said it is shutting down (`Drain`).
/// - `workers.done`/`failed`/`environment_failures`: its outcomes, counted;
///   `quarantine_reason` is set (non-empty) while its latest outcomes put it
///   in quarantine (see `worker_health`).
/// - `trials.handbacks`, `trials.environment_failures`: hand-backs and
///   environment failures of the trial (neither counts an attempt).
/// - `worker_outcomes`: each final report of a worker (done, failed,
///   environment), newest last: quarantine looks at the latest ones, and a
///   worker is not handed a trial it failed for environment reasons.
const V3: &str = r#"
ALTER TABLE workers ADD COLUMN secret_sha256 BLOB;
ALTER TABLE workers ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN environment_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN quarantine_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN handbacks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN environment_failures INTEGER NOT NULL DEFAULT 0;
CREATE TABLE worker_outcomes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id TEXT    NOT NULL,
    sweep_id  TEXT    NOT NULL,
    trial_id  TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('done', 'failed', 'environment')),
    error     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX worker_outcomes_by_worker ON worker_outcomes(worker_id, seq);
CREATE INDEX worker_outcomes_by_trial ON worker_outcomes(sweep_id, trial_id, kind, worker_id);
"#;

/// Version 4: search that spends less (issue 11).
/// - `trials.state` may be `stopped`: stopped early by the sweep's
///   `early_stop` (terminal, like done); `stop_epoch` is the epoch whose
///   value decided (an ASHA rung) and `stop_value` the metric there (what
///   TPE learns from a stopped trial). SQLite cannot change a CHECK in
///   place, so the table is rebuilt (foreign keys off meanwhile, as SQLite's
///   ALTER TABLE page prescribes), its rows and indexes kept.
/// - `sweeps.planned`: the trials the sweep will have in all (its points,
///   or TPE's `count`); `proposals_closed` is set once a TPE sweep can
///   propose nothing more (cancelled, or its space has no new point).
/// - `sweeps.early_stop_json`, `sweeps.tpe_json`: the checked
///   `early_stop:` and TPE plan (settings and space), `NULL` when absent.
const V4: &str = r#"
CREATE TABLE trials_v4 (
    sweep_id          TEXT    NOT NULL REFERENCES sweeps(id),
    trial_id          TEXT    NOT NULL,
    idx               INTEGER NOT NULL,
    config_json       TEXT    NOT NULL,
    params_json       TEXT    NOT NULL,
    state             TEXT    NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled', 'stopped')),
    attempt           INTEGER NOT NULL DEFAULT 0,
    attempts_counted  INTEGER NOT NULL DEFAULT 0,
    counted_attempt   INTEGER NOT NULL DEFAULT 0,
    reported_attempt  INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT    NOT NULL DEFAULT '',
    leased_at_ms      INTEGER,
    lease_deadline_ms INTEGER,
    result_json       TEXT,
    metric            REAL,
    test_acc          REAL,
    best_epoch        INTEGER NOT NULL DEFAULT 0,
    wall_s            REAL    NOT NULL DEFAULT 0,
    last_error        TEXT    NOT NULL DEFAULT '',
    epochs_done       INTEGER NOT NULL DEFAULT 0,
    total_epochs      INTEGER NOT NULL,
    last_val_acc      REAL,
    handbacks         INTEGER NOT NULL DEFAULT 0,
    environment_failures INTEGER NOT NULL DEFAULT 0,
    stop_epoch        INTEGER,
    stop_value        REAL,
    PRIMARY KEY (sweep_id, trial_id),
    UNIQUE (sweep_id, idx)
);
INSERT INTO trials_v4 (sweep_id, trial_id, idx, config_json, params_json, state, attempt,
    attempts_counted, counted_attempt, reported_attempt, worker_id, leased_at_ms,
    lease_deadline_ms, result_json, metric, test_acc, best_epoch, wall_s, last_error,
    epochs_done, total_epochs, last_val_acc, handbacks, environment_failures)
SELECT sweep_id, trial_id, idx, config_json, params_json, state, attempt,
    attempts_counted, counted_attempt, reported_attempt, worker_id, leased_at_ms,
    lease_deadline_ms, result_json, metric, test_acc, best_epoch, wall_s, last_error,
    epochs_done, total_epochs, last_val_acc, handbacks, environment_failures
FROM trials;
DROP TABLE trials;
ALTER TABLE trials_v4 RENAME TO trials;
CREATE INDEX trials_by_sweep_state ON trials(sweep_id, state, idx);
CREATE INDEX trials_by_state_deadline ON trials(state, lease_deadline_ms);
CREATE INDEX trials_by_trial_id ON trials(trial_id, state);

ALTER TABLE sweeps ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN proposals_closed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN early_stop_json TEXT;
ALTER TABLE sweeps ADD COLUMN tpe_json TEXT;
UPDATE sweeps SET planned = (SELECT count(*) FROM trials t WHERE t.sweep_id = sweeps.id);
"#;

/// Version 5: artifacts kept with the trial (issue 13).
/// - `sweeps.artifacts_json`: the checked `artifacts:` policy (kinds, how
///   many trials keep their best weights); `NULL` for the default.
/// - `artifacts`: one row per stored file of an attempt. The file lies at
///   `<artifacts dir>/<sweep>/<trial>/<attempt>/<name>`; the row is
///   written after the file is renamed into place and fsynced, and is what
///   makes it visible.
const V5: &str = r#"
ALTER TABLE sweeps ADD COLUMN artifacts_json TEXT;
CREATE TABLE artifacts (
    sweep_id   TEXT    NOT NULL,
    trial_id   TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, trial_id, attempt, name),
    FOREIGN KEY (sweep_id, trial_id) REFERENCES trials(sweep_id, trial_id)
) WITHOUT ROWID;
"#;

/// Version 6: execution settings and reuse across sweeps (issue 10).
/// - `sweeps.execution_json`: the sweep file's `execution:` (`sharing`,
///   `reuse`); `NULL` for the defaults, both on (so every older sweep).
/// - `sweeps.inputs_json`: the submitter's SHA-256 of the input files its
///   trials name (path as the config writes it -> hex); `NULL` when none
///   were sent (every older sweep: its results are never reused).
/// - `trials.reused_from_sweep`: set for a trial stored done at submit as a
///   copy of the trial with the same id (same config) in that earlier
///   sweep; `NULL` for a trial run here.
const V6: &str = r#"
ALTER TABLE sweeps ADD COLUMN execution_json TEXT;
ALTER TABLE sweeps ADD COLUMN inputs_json TEXT;
ALTER TABLE trials ADD COLUMN reused_from_sweep TEXT;
"#;

/// Connection settings: every commit is durable before it returns. Locking
/// stays NORMAL so that read-only readers (`--db`) can read while the
/// coordinator runs; one writer per file is `writer_lock`'s job.
pub fn configure(conn: &Connection) -> Result<(), OpenError> {
    conn.execute_batch("PRAGMA busy_timeout = 1000; PRAGMA locking_mode = NORMAL;")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal(mode));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

/// A read-only connection's settings: it never writes (`query_only`), waits
/// a little for a busy file, and only reads a database of this version.
pub fn configure_read_only(conn: &Connection) -> Result<(), OpenError> {
    conn.execute_batch("PRAGMA busy_timeout = 1000; PRAGMA query_only = ON;")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match version {
        VERSION => Ok(()),
        0 => Err(OpenError::Foreign),
        v => Err(OpenError::UnknownVersion(v)),
    }
}

/// A read-only open that failed because the WAL's `-shm` is missing and the
/// folder is not writable becomes [`OpenError::NoShm`]; others pass.
pub fn explain_read_only_failure(db: &Path, err: OpenError) -> OpenError {
    let cannot_open = matches!(
        &err,
        OpenError::Sql(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
            )
    );
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    let shm = PathBuf::from(shm);
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if cannot_open && !shm.exists() && !folder_writable(&dir) {
        return OpenError::NoShm { shm, dir };
    }
    err
}

/// Whether this process may create files in `dir`: a probe file, made and
/// removed (only after an open already failed).
fn folder_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".sweep-probe-{}", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    made.is_ok() && std::fs::remove_file(&probe).is_ok()
}

/// Creates the tables on an empty database, brings an older layout up
/// to date, or checks the version of a current one; in one transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == VERSION {
        return Ok(());
    }
    // Version 4 rebuilds `trials`, which `lease_requests` refers to: foreign
    // keys are off during the migration (a no-op inside a transaction, so
    // before it) and checked before it commits.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let migrated = migrate_from(conn, version);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    migrated
}

/// The migration's transaction, from `version` to [`VERSION`].
fn migrate_from(conn: &mut Connection, version: i64) -> Result<(), OpenError> {
    let tx = conn.transaction()?;
    match version {
        0 => {
            let has_tables: i64 = tx.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if has_tables > 0 {
                return Err(OpenError::Foreign);
            }
            tx.execute_batch(V1)?;
            tx.execute_batch(V2)?;
            tx.execute_batch(V3)?;
            tx.execute_batch(V4)?;
            tx.execute_batch(V5)?;
            tx.execute_batch(V6)?;
        }
        1 => {
            tx.execute_batch(V2)?;
            tx.execute_batch(V3)?;
            tx.execute_batch(V4)?;
            tx.execute_batch(V5)?;
            tx.execute_batch(V6)?;
        }
        2 => {
            tx.execute_batch(V3)?;
            tx.execute_batch(V4)?;
            tx.execute_batch(V5)?;
            tx.execute_batch(V6)?;
        }
        3 => {
            tx.execute_batch(V4)?;
            tx.execute_batch(V5)?;
            tx.execute_batch(V6)?;
        }
        4 => {
            tx.execute_batch(V5)?;
            tx.execute_batch(V6)?;
        }
        5 => tx.execute_batch(V6)?,
        v => return Err(OpenError::UnknownVersion(v)),
    }
    let dangling: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if dangling > 0 {
        return Err(OpenError::Migration(format!(
            "{dangling} row(s) refer to rows that do not exist after the migration"
        )));
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}
