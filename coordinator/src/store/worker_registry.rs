//! The workers the coordinator knows: registering one (its id starts with
//! its host name) and noting, at each request, that a known one is alive.

use super::error::{StoreError, StoreResult};
use super::model::WorkerInfo;
use super::{ids, Now, Store};
use rusqlite::{params, Transaction};

impl Store {
    /// Stores a new worker and returns its id.
    pub fn register_worker(&self, info: &WorkerInfo) -> StoreResult<String> {
        self.write(|tx, now, _| {
            let id = ids::unused(tx, "workers", || ids::worker_id(&info.hostname))?;
            tx.execute(
                "INSERT INTO workers (id, hostname, cores, slots, version, registered_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![id, info.hostname, info.cores, info.slots, info.version, now.wall_ms as i64],
            )?;
            Ok(id)
        })
    }
}

/// Refuses an unknown worker; notes that a known one is alive.
pub(super) fn touch_worker(tx: &Transaction, worker_id: &str, now: Now) -> StoreResult<()> {
    let n = tx.execute(
        "UPDATE workers SET last_seen_ms = ?2 WHERE id = ?1",
        params![worker_id, now.wall_ms as i64],
    )?;
    if n == 0 {
        return Err(StoreError::UnknownWorker(worker_id.to_string()));
    }
    Ok(())
}
