//! Lease expiry: running trials whose lease ran out go back to pending, or
//! fail once `max_attempts` attempts are used, or are cancelled with their
//! sweep; and at open, every running trial gets a fresh deadline.

use super::error::StoreResult;
use super::{Changed, Now, Store};
use rusqlite::{params, Transaction};

impl Store {
    /// Takes back every trial whose lease has run out; returns how many.
    pub fn expire_leases(&self) -> StoreResult<usize> {
        self.write(expire)
    }
}

/// Running trials past their deadline: the attempt counts; the trial goes
/// back to pending, or fails once its sweep's `max_attempts` are used, or is
/// cancelled with its sweep.
pub(super) fn expire(tx: &Transaction, now: Now, changed: &mut Changed) -> StoreResult<usize> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.sweep_id, t.trial_id, t.attempt, t.attempts_counted, t.counted_attempt,
                t.worker_id, s.max_attempts, s.state
         FROM trials t JOIN sweeps s ON s.id = t.sweep_id
         WHERE t.state = 'running' AND t.lease_deadline_ms < ?1",
    )?;
    #[allow(clippy::type_complexity)]
    let expired: Vec<(String, String, u32, u32, u32, String, u32, String)> = stmt
        .query_map([now.monotonic_ms as i64], |r| {
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

/// Gives every running trial the deadline `deadline` (at open, on the new
/// process's monotonic clock).
pub(super) fn renew_all(tx: &Transaction, deadline: u64) -> StoreResult<usize> {
    Ok(tx.execute(
        "UPDATE trials SET lease_deadline_ms = ?1 WHERE state = 'running'",
        [deadline as i64],
    )?)
}
