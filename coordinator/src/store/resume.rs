//! Picking a sweep up again: the latest sweep stored from the same sweep-file
//! text, and taking back the leases of workers known to be gone without
//! counting an attempt. `sweep run` uses both when it starts on a database an
//! earlier run left behind (its workers died with it).

use super::error::StoreResult;
use super::Store;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// The id of the latest sweep (cancelled ones excluded) submitted with
    /// exactly `yaml` as its text, if any.
    pub fn latest_sweep_from(&self, yaml: &str) -> StoreResult<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT id FROM sweeps WHERE yaml = ?1 AND state = 'running'
                     ORDER BY seq DESC LIMIT 1",
                    [yaml],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Every running trial of `sweep_id` goes back to pending as if its
    /// worker had handed it back: the attempt does not count, and a late
    /// report of it is answered as a repeat. Only for leases whose workers
    /// are known to be gone (their process is dead); returns how many.
    pub fn release_running_trials(&self, sweep_id: &str, why: &str) -> StoreResult<usize> {
        self.write(|tx, _now, changed| {
            let n = tx.execute(
                "UPDATE trials
                 SET state = 'pending', counted_attempt = MIN(counted_attempt, attempt - 1),
                     reported_attempt = attempt, lease_deadline_ms = NULL, last_error = ?2
                 WHERE sweep_id = ?1 AND state = 'running'",
                params![sweep_id, why],
            )?;
            if n > 0 {
                changed.push(sweep_id.to_string());
            }
            Ok(n)
        })
    }
}
