//! Leases: handing a pending trial to a worker (the oldest running sweep
//! with room under its `parallelism` first, its trials in index order,
//! skipping those this worker failed for environment reasons; with sharing on,
//! the first whose share group has no trial running, if one of the next
//! [`SHARE_LOOKAHEAD`] has none, see `share_groups`; a TPE sweep without a
//! pending trial proposes its next one, see `proposals`); a worker that asks
//! for several gets partners of the same bundle with it (`bundles`). A
//! draining worker gets nothing; a quarantined one is refused, saying why.

use super::error::{StoreError, StoreResult};
use super::expiry::expire;
use super::model::LeaseGrant;
use super::share_groups::share_group;
use super::worker_health::standing;
use super::worker_registry::touch_worker;
use super::{bundles, lease_requests, proposals, Now, Store};
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
        Ok(self
            .lease_bundle(worker_id, request_id, 1)?
            .into_iter()
            .next())
    }

    /// [`Store::lease`], and with it up to `max_trials - 1` partners of the
    /// same bundle (see [`bundles`]): every grant is a lease of its own
    /// (attempt, deadline, fencing), all made in one transaction and, with
    /// a request id, all remembered with it. Empty when nothing is pending.
    pub fn lease_bundle(
        &self,
        worker_id: &str,
        request_id: &str,
        max_trials: u32,
    ) -> StoreResult<Vec<LeaseGrant>> {
        let lease_ms = self.lease_ms;
        let max_trials = max_trials.clamp(1, bundles::MAX_BUNDLE);
        // A quarantined worker is refused after the transaction commits, so
        // that its last_seen still moves (it is not gone, only quarantined).
        let answer = self.write(|tx, now, changed| {
            touch_worker(tx, worker_id, now)?;
            if !request_id.is_empty() {
                let earlier = lease_requests::answered(tx, worker_id, request_id, now, lease_ms)?;
                if !earlier.is_empty() {
                    return Ok(Ok(earlier));
                }
            }
            let (draining, quarantine_reason) = standing(tx, worker_id)?;
            if !quarantine_reason.is_empty() {
                return Ok(Err(quarantine_reason));
            }
            expire(tx, now, changed)?;
            if draining {
                return Ok(Ok(Vec::new()));
            }
            let Some((sweep_id, trial_id, sharing)) = next_pending(tx, worker_id)? else {
                return Ok(Ok(Vec::new()));
            };
            let partners = if max_trials > 1 {
                bundles::partners(
                    tx,
                    &sweep_id,
                    &trial_id,
                    worker_id,
                    max_trials - 1,
                    now,
                    lease_ms,
                )?
            } else {
                Vec::new()
            };
            changed.push(sweep_id.clone());
            let artifacts = super::artifacts::policy_of(tx, &sweep_id)?.kind_names();
            let mut grants = Vec::with_capacity(1 + partners.len());
            for trial_id in std::iter::once(trial_id).chain(partners) {
                let (attempt, config_json) =
                    grant(tx, &sweep_id, &trial_id, worker_id, now, lease_ms)?;
                grants.push(LeaseGrant {
                    artifacts: artifacts.clone(),
                    sweep_id: sweep_id.clone(),
                    trial_id,
                    attempt,
                    config_json,
                    lease_ms,
                    sharing_off: !sharing,
                });
            }
            if !request_id.is_empty() {
                lease_requests::remember(tx, worker_id, request_id, &grants)?;
            }
            Ok(Ok(grants))
        })?;
        answer.map_err(|reason| StoreError::Quarantined {
            worker_id: worker_id.to_string(),
            reason,
        })
    }
}

/// Marks pending `trial_id` of `sweep_id` running under a new attempt for
/// `worker_id`; its (attempt, config JSON).
fn grant(
    tx: &Transaction,
    sweep_id: &str,
    trial_id: &str,
    worker_id: &str,
    now: Now,
    lease_ms: u64,
) -> StoreResult<(u32, String)> {
    Ok(tx.query_row(
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
    )?)
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
        let pending = pending_for(tx, &sweep_id, worker_id, look as i64)?;
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

/// The first `limit` pending trials of `sweep_id` (id, config JSON), in
/// lease order, leaving out those `worker_id` failed for environment reasons.
pub(super) fn pending_for(
    tx: &Transaction,
    sweep_id: &str,
    worker_id: &str,
    limit: i64,
) -> StoreResult<Vec<(String, String)>> {
    let mut pending = tx.prepare_cached(
        "SELECT t.trial_id, t.config_json FROM trials t
         WHERE t.sweep_id = ?1 AND t.state = 'pending'
           AND (t.environment_failures = 0 OR NOT EXISTS (
               SELECT 1 FROM worker_outcomes o
               WHERE o.sweep_id = t.sweep_id AND o.trial_id = t.trial_id
                 AND o.kind = 'environment' AND o.worker_id = ?2))
         ORDER BY t.idx LIMIT ?3",
    )?;
    let rows = pending
        .query_map(params![sweep_id, worker_id, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
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
