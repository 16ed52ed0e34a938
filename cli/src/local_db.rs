//! `--db FILE`: `sweep status`, `leaderboard` and `report` read a
//! coordinator's database file directly, read-only (`SQLITE_OPEN_READ_ONLY`,
//! `query_only`; nothing is migrated or renewed), so finished results can be
//! looked at without starting a server. The answers are the ones the
//! coordinator would give over gRPC (the same store reads, the same
//! conversion), so the same renderers print them.
//!
//! A running coordinator keeps its database in WAL mode with normal locking
//! (one writer is ensured by its lock file, `sweep.db.lock`), so these reads
//! also work while it runs: they see its last commit and never block it.

use crate::error::CliError;
use std::path::{Path, PathBuf};
use sweep_coordinator::service::convert;
use sweep_coordinator::store::{Store, StoreError};
use sweep_proto::v1;

/// Runs `read` on the store at `path`, opened read-only, on a blocking thread.
pub async fn read<T: Send + 'static>(
    path: &Path,
    read: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, CliError> {
    let path: PathBuf = path.to_path_buf();
    let shown = path.clone();
    let failed = move |detail: String| CliError::Database {
        path: shown.clone(),
        detail,
    };
    if !path.is_file() {
        return Err(failed("no such file".into()));
    }
    tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&path)?;
        read(&store)
    })
    .await
    .map_err(|e| failed(e.to_string()))?
    .map_err(|e| match e {
        StoreError::NoSweep(id) => CliError::NotFound(format!("no sweep {id} in the database")),
        other => failed(sweep_coordinator::store::chain_text(&other)),
    })
}

/// The sweep's summary, as `GetSweep` answers it.
pub async fn sweep(path: &Path, id: &str) -> Result<v1::SweepSummary, CliError> {
    let id = id.to_string();
    read(path, move |store| store.sweep_summary(&id))
        .await
        .map(convert::summary)
}

/// The sweep's ranking (its best `top`, 0 = all), as `ListTrials` answers it.
pub async fn trials(path: &Path, id: &str, top: u32) -> Result<v1::ListTrialsResponse, CliError> {
    let id = id.to_string();
    read(path, move |store| store.list_trials(&id, top))
        .await
        .map(convert::ranking)
}
