//! The workers the coordinator knows: registering one (its id starts with
//! its host name; it gets a secret, of which only the SHA-256 is kept),
//! checking the secret a later call presents, noting at each request that a
//! known one is alive, and draining one.

use super::error::{StoreError, StoreResult};
use super::model::{Registration, WorkerInfo};
use super::{ids, secrets, worker_health, Now, Store};
use rusqlite::{params, OptionalExtension, Transaction};

impl Store {
    /// Stores a new worker; returns its id and its secret (which is not stored).
    pub fn register_worker(&self, info: &WorkerInfo) -> StoreResult<Registration> {
        let secret = secrets::draw().map_err(StoreError::NoEntropy)?;
        let digest = secrets::digest(&secret);
        self.write(|tx, now, _| {
            let id = ids::unused(tx, "workers", || ids::worker_id(&info.hostname))?;
            tx.execute(
                "INSERT INTO workers (id, hostname, cores, slots, version, registered_ms, last_seen_ms,
                                      secret_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                params![
                    id,
                    info.hostname,
                    info.cores,
                    info.slots,
                    info.version,
                    now.wall_ms as i64,
                    digest.as_slice()
                ],
            )?;
            Ok(Registration {
                worker_id: id,
                secret,
            })
        })
    }

    /// Refuses a call of `worker_id` that does not carry its secret
    /// ([`StoreError::WrongSecret`]); an unknown worker, or one registered
    /// before secrets existed, is told to register again
    /// ([`StoreError::UnknownWorker`]). Changes nothing.
    pub fn authenticate_worker(&self, worker_id: &str, secret: &str) -> StoreResult<()> {
        self.read(|conn| {
            let stored: Option<Option<Vec<u8>>> = conn
                .prepare_cached("SELECT secret_sha256 FROM workers WHERE id = ?1")?
                .query_row([worker_id], |r| r.get(0))
                .optional()?;
            match stored {
                None | Some(None) => Err(StoreError::UnknownWorker(worker_id.to_string())),
                Some(Some(digest)) if secrets::matches(&digest, secret) => Ok(()),
                Some(Some(_)) => Err(StoreError::WrongSecret(worker_id.to_string())),
            }
        })
    }

    /// The worker is shutting down: it leases nothing more (its running
    /// trials still report). Draining twice is the same as once.
    pub fn drain_worker(&self, worker_id: &str) -> StoreResult<()> {
        self.write(|tx, now, changed| {
            touch_worker(tx, worker_id, now)?;
            let n = tx.execute(
                "UPDATE workers SET draining = 1 WHERE id = ?1 AND draining = 0",
                [worker_id],
            )?;
            if n > 0 {
                // Summaries count active workers: watchers should hear of it.
                changed.extend(worker_health::running_sweeps(tx)?);
            }
            Ok(())
        })
    }
}

/// Refuses an unknown worker; notes that a known one is alive.
pub(super) fn touch_worker(tx: &Transaction, worker_id: &str, now: Now) -> StoreResult<()> {
    let n = tx
        .prepare_cached("UPDATE workers SET last_seen_ms = ?2 WHERE id = ?1")?
        .execute(params![worker_id, now.wall_ms as i64])?;
    if n == 0 {
        return Err(StoreError::UnknownWorker(worker_id.to_string()));
    }
    Ok(())
}
