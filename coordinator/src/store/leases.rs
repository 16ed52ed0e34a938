//! Workers and leases: registering a worker, handing a pending trial to it,
//! and taking back trials whose lease ran out (pending again, or failed once
//! `max_attempts` attempts are used).

use super::error::{StoreError, StoreResult};
use super::model::{LeaseGrant, WorkerInfo};
use super::{ids, Changed, Store};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

impl Store {
    /// Stores a new worker and returns its id.
    pub fn register_worker(&self, info: &WorkerInfo) -> StoreResult<String> {
        self.write(|tx, now, _| {
            let id = ids::unused(tx, "workers", || ids::worker_id(&info.hostname))?;
            tx.execute(
                "INSERT INTO workers (id, hostname, cores, slots, version, registered_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![id, info.hostname, info.cores, info.slots, info.version, now as i64],
            )?;
            Ok(id)
        })
    }

    /// Hands the first pending trial of the oldest running sweep with room
    /// under its `parallelism` to `worker_id`; `None` when there is none.
    /// Expired leases are taken back first.
    pub fn lease(&self, worker_id: &str) -> StoreResult<Option<LeaseGrant>> {
        let lease_ms = self.lease_ms;
        self.write(|tx, now, changed| {
            touch_worker(tx, worker_id, now)?;
            expire(tx, now, changed)?;
            let Some((sweep_id, trial_id)) = next_pending(tx)? else {
                return Ok(None);
            };
            let (attempt, config_json): (u32, String) = tx.query_row(
                "UPDATE trials
                 SET state = 'running', attempt = attempt + 1, worker_id = ?3,
                     leased_at_ms = ?4, lease_deadline_ms = ?5, epochs_done = 0, last_val_acc = NULL
                 WHERE sweep_id = ?1 AND trial_id = ?2
                 RETURNING attempt, config_json",
                params![
                    sweep_id,
                    trial_id,
                    worker_id,
                    now as i64,
                    (now + lease_ms) as i64
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            changed.push(sweep_id.clone());
            Ok(Some(LeaseGrant {
                sweep_id,
                trial_id,
                attempt,
                config_json,
                lease_ms,
            }))
        })
    }

    /// Takes back every trial whose lease has run out; returns how many.
    pub fn expire_leases(&self) -> StoreResult<usize> {
        self.write(expire)
    }
}

/// Refuses an unknown worker; notes that a known one is alive.
pub(super) fn touch_worker(tx: &Transaction, worker_id: &str, now: u64) -> StoreResult<()> {
    let n = tx.execute(
        "UPDATE workers SET last_seen_ms = ?2 WHERE id = ?1",
        params![worker_id, now as i64],
    )?;
    if n == 0 {
        return Err(StoreError::UnknownWorker(worker_id.to_string()));
    }
    Ok(())
}

/// (sweep id, trial id) of the trial to lease next, if any.
fn next_pending(conn: &Connection) -> StoreResult<Option<(String, String)>> {
    let mut sweeps = conn.prepare_cached(
        "SELECT s.id, s.parallelism,
                (SELECT count(*) FROM trials r WHERE r.sweep_id = s.id AND r.state = 'running')
         FROM sweeps s
         WHERE s.state = 'running'
           AND EXISTS (SELECT 1 FROM trials p WHERE p.sweep_id = s.id AND p.state = 'pending')
         ORDER BY s.seq",
    )?;
    let candidates: Vec<(String, i64, i64)> = sweeps
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut first_pending = conn.prepare_cached(
        "SELECT t.trial_id FROM trials t
         WHERE t.sweep_id = ?1 AND t.state = 'pending'
         ORDER BY t.idx LIMIT 1",
    )?;
    for (sweep_id, parallelism, running) in candidates {
        if parallelism > 0 && running >= parallelism {
            continue;
        }
        let trial: Option<String> = first_pending
            .query_row([&sweep_id], |r| r.get(0))
            .optional()?;
        if let Some(trial_id) = trial {
            return Ok(Some((sweep_id, trial_id)));
        }
    }
    Ok(None)
}

/// Running trials past their deadline: the attempt counts; the trial goes
/// back to pending, or fails once its sweep's `max_attempts` are used, or is
/// cancelled with its sweep.
pub(super) fn expire(tx: &Transaction, now: u64, changed: &mut Changed) -> StoreResult<usize> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.sweep_id, t.trial_id, t.attempt, t.attempts_counted, t.counted_attempt,
                t.worker_id, s.max_attempts, s.state
         FROM trials t JOIN sweeps s ON s.id = t.sweep_id
         WHERE t.state = 'running' AND t.lease_deadline_ms < ?1",
    )?;
    #[allow(clippy::type_complexity)]
    let expired: Vec<(String, String, u32, u32, u32, String, u32, String)> = stmt
        .query_map([now as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (
        sweep_id,
        trial_id,
        attempt,
        counted,
        counted_attempt,
        worker,
        max_attempts,
        sweep_state,
    ) in &expired
    {
        let counted = if counted_attempt < attempt {
            counted + 1
        } else {
            *counted
        };
        let (state, error) = if sweep_state == "cancelled" {
            ("cancelled", "sweep cancelled; lease expired".to_string())
        } else if counted >= *max_attempts {
            ("failed", format!("lease expired after {counted} attempts"))
        } else {
            (
                "pending",
                format!("lease of attempt {attempt} expired (worker {worker})"),
            )
        };
        tracing::info!(sweep = %sweep_id, trial = %trial_id, "{error}; trial is {state}");
        tx.execute(
            "UPDATE trials SET state = ?3, attempts_counted = ?4, counted_attempt = ?5,
                               lease_deadline_ms = NULL, last_error = ?6
             WHERE sweep_id = ?1 AND trial_id = ?2",
            params![sweep_id, trial_id, state, counted, attempt, error],
        )?;
        changed.push(sweep_id.clone());
    }
    Ok(expired.len())
}

/// Gives every running trial the deadline `deadline` (at open).
pub(super) fn renew_all(tx: &Transaction, deadline: u64) -> StoreResult<usize> {
    Ok(tx.execute(
        "UPDATE trials SET lease_deadline_ms = ?1 WHERE state = 'running'",
        [deadline as i64],
    )?)
}
