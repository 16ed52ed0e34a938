//! Lease requests: a `LeaseTrial` may carry a client-chosen request id, and
//! the assignment it got is stored with it, in the lease's transaction. A
//! retry with the same worker and request id (the answer was lost, the
//! coordinator restarted) gets the same assignment back and burns no
//! attempt. An empty request id is never remembered, nor is an empty answer
//! (a retry of "nothing pending" just asks again). A bundle's partners are
//! remembered under derived ids (`<request id>#2`, `#3`, …), so a retry gets
//! the whole bundle back, in its order.

use super::error::StoreResult;
use super::model::LeaseGrant;
use super::Now;
use rusqlite::{params, OptionalExtension, Transaction};

/// How many of its latest lease requests are remembered per worker (far
/// more than a daemon has slots, hence requests in flight).
const REMEMBERED_PER_WORKER: i64 = 256;

/// The id a bundle's `k`-th grant (from 0) is remembered under.
fn member_id(request_id: &str, k: usize) -> String {
    if k == 0 {
        request_id.to_string()
    } else {
        format!("{request_id}#{}", k + 1)
    }
}

/// The assignments an earlier request `request_id` of `worker_id` got (a
/// bundle, in order), or none. While an attempt still runs with this worker
/// its lease restarts now; otherwise it is handed back as it was, and the
/// worker's first heartbeat finds out where it stands (re-adopted, stale or
/// over).
pub(super) fn answered(
    tx: &Transaction,
    worker_id: &str,
    request_id: &str,
    now: Now,
    lease_ms: u64,
) -> StoreResult<Vec<LeaseGrant>> {
    let mut grants = Vec::new();
    while let Some(grant) = answered_one(
        tx,
        worker_id,
        &member_id(request_id, grants.len()),
        now,
        lease_ms,
    )? {
        grants.push(grant);
    }
    Ok(grants)
}

/// One remembered grant, as [`answered`] says.
fn answered_one(
    tx: &Transaction,
    worker_id: &str,
    request_id: &str,
    now: Now,
    lease_ms: u64,
) -> StoreResult<Option<LeaseGrant>> {
    let earlier = tx
        .query_row(
            "SELECT r.sweep_id, r.trial_id, r.attempt, t.config_json
             FROM lease_requests r
             JOIN trials t ON t.sweep_id = r.sweep_id AND t.trial_id = r.trial_id
             WHERE r.worker_id = ?1 AND r.request_id = ?2",
            params![worker_id, request_id],
            |r| {
                Ok(LeaseGrant {
                    sweep_id: r.get(0)?,
                    trial_id: r.get(1)?,
                    attempt: r.get(2)?,
                    config_json: r.get(3)?,
                    lease_ms,
                    artifacts: Vec::new(),
                    sharing_off: false,
                })
            },
        )
        .optional()?;
    let mut earlier = earlier;
    if let Some(grant) = &mut earlier {
        grant.artifacts = super::artifacts::policy_of(tx, &grant.sweep_id)?.kind_names();
        // The same value as the first answer: the sweep's settings never change.
        grant.sharing_off = !super::reuse::execution_of(tx, &grant.sweep_id)?.sharing;
        tx.execute(
            "UPDATE trials SET lease_deadline_ms = ?5
             WHERE sweep_id = ?1 AND trial_id = ?2 AND attempt = ?3 AND worker_id = ?4
               AND state = 'running'",
            params![
                grant.sweep_id,
                grant.trial_id,
                grant.attempt,
                worker_id,
                (now.monotonic_ms + lease_ms) as i64
            ],
        )?;
    }
    Ok(earlier)
}

/// Remembers that request `request_id` of `worker_id` got `grants` (a
/// bundle, in order), and forgets the worker's requests beyond the latest
/// [`REMEMBERED_PER_WORKER`].
pub(super) fn remember(
    tx: &Transaction,
    worker_id: &str,
    request_id: &str,
    grants: &[LeaseGrant],
) -> StoreResult<()> {
    for (k, grant) in grants.iter().enumerate() {
        tx.execute(
            "INSERT INTO lease_requests (worker_id, request_id, sweep_id, trial_id, attempt)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                worker_id,
                member_id(request_id, k),
                grant.sweep_id,
                grant.trial_id,
                grant.attempt
            ],
        )?;
    }
    tx.execute(
        "DELETE FROM lease_requests
         WHERE worker_id = ?1 AND seq NOT IN (
             SELECT seq FROM lease_requests WHERE worker_id = ?1 ORDER BY seq DESC LIMIT ?2)",
        params![worker_id, REMEMBERED_PER_WORKER],
    )?;
    Ok(())
}
