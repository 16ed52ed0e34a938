//! Leases: handing a pending trial to a worker (the oldest running sweep
//! with room under its `parallelism` first, its trials in index order,
//! skipping those this worker failed for environment reasons; with sharing on,
//! the first whose share group has no trial running, if one of the next
//! [`SHARE_LOOKAHEAD`] has none, see `share_groups`; a TPE sweep without a
//! pending trial proposes its next one, see `proposals`). A draining worker
//! gets nothing; a quarantined one is refused, saying why.

use super::error::{StoreError, StoreResult};
use super::expiry::expire;
use super::model::LeaseGrant;
use super::share_groups::share_group;
use super::worker_health::standing;
use super::worker_registry::touch_worker;
use super::{lease_requests, proposals, Store};
use rusqlite::{params, Transaction};
use std::collections::HashSet;

/// How many pending trials, in order, a lease looks through for one whose
/// share group is not running (bounds the configs parsed per lease).
pub const SHARE_LOOKAHEAD: usize = 32;

impl Store {
    /// Hands the first pending trial of the oldest running sweep with room
    /// under its `parallelism` to `worker_id`; `None` when there is none.
    /// Expired leases are taken back first. A non-empty `request_id` makes
    /// the request retryable: the same worker and request id get the same
    /// assignment back (see [`lease_requests`](super::lease_requests)).
    /// A draining worker gets `None`; a quarantined one
    /// [`StoreError::Quarantined`] (a retried request still gets its lease).
    pub fn lease(&self, worker_id: &str, request_id: &str) -> StoreResult<Option<LeaseGrant>> {
        let lease_ms = self.lease_ms;
        // A quarantined worker is refused after the transaction commits, so
        // that its last_seen still moves (it is not gone, only quarantined).
        let answer = self.write(|tx, now, changed| {
            touch_worker(tx, worker_id, now)?;
            if !request_id.is_empty() {
                if let Some(grant) =
                    lease_requests::answered(tx, worker_id, request_id, now, lease_ms)?
                {
                    return Ok(Ok(Some(grant)));
                }
            }
            let (draining, quarantine_reason) = standing(tx, worker_id)?;
            if !quarantine_reason.is_empty() {
                return Ok(Err(quarantine_reason));
            }
            expire(tx, now, changed)?;
            if draining {
                return Ok(Ok(None));
            }
            let Some((sweep_id, trial_id, sharing)) = next_pending(tx, worker_id)? else {
                return Ok(Ok(None));
            };
            let (attempt, config_json): (u32, String) = tx.query_row(
                "UPDATE trials
                 SET state = 'running', attempt = attempt + 1, worker_id = ?3,
                     leased_at_ms = ?4, lease_deadline_ms = ?5, epochs_done = 0, last_val_acc = NULL
                 WHERE sweep_id = ?1 AND trial_id = ?2 AND state = 'pending'
                 RETURNING attempt, config_json",
                params![
                    sweep_id,
                    trial_id,
                    worker_id,
                    now.wall_ms as i64,
                    (now.monotonic_ms + lease_ms) as i64
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            changed.push(sweep_id.clone());
            let artifacts = super::artifacts::policy_of(tx, &sweep_id)?.kind_names();
            let sharing_off = !sharing;
            let grant = LeaseGrant {
                artifacts,
                sweep_id,
                trial_id,
                attempt,
                config_json,
                lease_ms,
                sharing_off,
            };
            if !request_id.is_empty() {
                lease_requests::remember(tx, worker_id, request_id, &grant)?;
            }
            Ok(Ok(Some(grant)))
        })?;
        answer.map_err(|reason| StoreError::Quarantined {
            worker_id: worker_id.to_string(),
            reason,
        })
    }
}

/// (sweep id, trial id, the sweep's `execution.sharing`) of the trial to
/// lease next to `worker_id`, if any: a pending one, else, for a TPE sweep
/// with proposals left, a new proposal (stored by [`proposals::propose`] in
/// this transaction).
fn next_pending(tx: &Transaction, worker_id: &str) -> StoreResult<Option<(String, String, bool)>> {
    let conn: &Transaction = tx;
    let mut sweeps = conn.prepare_cached(
        "SELECT id, parallelism, running, can_propose FROM (
             SELECT s.id, s.seq, s.parallelism,
                    (SELECT count(*) FROM trials r WHERE r.sweep_id = s.id AND r.state = 'running')
                        AS running,
                    (s.tpe_json IS NOT NULL AND s.proposals_closed = 0
                     AND (SELECT count(*) FROM trials c WHERE c.sweep_id = s.id) < s.planned)
                        AS can_propose,
                    EXISTS (SELECT 1 FROM trials p WHERE p.sweep_id = s.id AND p.state = 'pending')
                        AS has_pending
             FROM sweeps s
             WHERE s.state = 'running')
         WHERE has_pending OR can_propose
         ORDER BY seq",
    )?;
    let candidates: Vec<(String, i64, i64, bool)> = sweeps
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut first_pending = conn.prepare_cached(
        "SELECT t.trial_id, t.config_json FROM trials t
         WHERE t.sweep_id = ?1 AND t.state = 'pending'
           AND (t.environment_failures = 0 OR NOT EXISTS (
               SELECT 1 FROM worker_outcomes o
               WHERE o.sweep_id = t.sweep_id AND o.trial_id = t.trial_id
                 AND o.kind = 'environment' AND o.worker_id = ?2))
         ORDER BY t.idx LIMIT ?3",
    )?;
    for (sweep_id, parallelism, running, can_propose) in candidates {
        if parallelism > 0 && running >= parallelism {
            continue;
        }
        let sharing = super::reuse::execution_of(tx, &sweep_id)?.sharing;
        let look = if sharing && running > 0 {
            SHARE_LOOKAHEAD
        } else {
            1
        };
        let pending: Vec<(String, String)> = first_pending
            .query_map(params![sweep_id, worker_id, look as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let trial = if pending.len() > 1 {
            apart_from_running(tx, &sweep_id, &pending)?
        } else {
            pending.into_iter().next().map(|(id, _)| id)
        };
        if let Some(trial_id) = trial {
            return Ok(Some((sweep_id, trial_id, sharing)));
        }
        if can_propose {
            if let Some(trial_id) = proposals::propose(tx, &sweep_id)? {
                return Ok(Some((sweep_id, trial_id, sharing)));
            }
        }
    }
    Ok(None)
}

/// The first of `pending` (id, config JSON; in lease order) whose share group
/// has no running trial in `sweep_id`, else the first.
fn apart_from_running(
    tx: &Transaction,
    sweep_id: &str,
    pending: &[(String, String)],
) -> StoreResult<Option<String>> {
    let mut running = tx.prepare_cached(
        "SELECT config_json FROM trials WHERE sweep_id = ?1 AND state = 'running'",
    )?;
    let busy: HashSet<String> = running
        .query_map(params![sweep_id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .filter_map(|c| share_group(c))
        .collect();
    let free = pending
        .iter()
        .find(|(_, config)| share_group(config).is_none_or(|g| !busy.contains(&g)));
    Ok(free.or(pending.first()).map(|(id, _)| id.clone()))
}
