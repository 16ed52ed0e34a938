//! How workers fare: every final report of a worker is an outcome (done,
//! failed, environment) counted on its row and kept in `worker_outcomes`.
//!
//! Quarantine: a worker whose latest `quarantine_after` outcomes were all
//! environment failures, each on a different trial, leases nothing more
//! (its running trials still report; a trial it then completes lifts the
//! quarantine, since its latest outcomes are no longer all environment
//! failures). A worker is never handed a trial it failed for environment
//! reasons, so a broken worker moves on to other trials and is quarantined
//! instead of failing the same one forever.
//!
//! A worker's state is derived when read: gone when not heard from for two
//! leases, else quarantined, else draining, else active.

use super::error::StoreResult;
use super::model::{WorkerCounts, WorkerState, WorkerStatus};
use super::{Changed, Store};
use rusqlite::{params, Connection, Transaction};

/// What a worker's final report was, for its counts and its quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    Failed,
    Environment,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::Environment => "environment",
        }
    }

    /// The statement that counts this outcome on its worker.
    fn count_sql(self) -> &'static str {
        match self {
            Outcome::Done => "UPDATE workers SET done = done + 1 WHERE id = ?1",
            Outcome::Failed => "UPDATE workers SET failed = failed + 1 WHERE id = ?1",
            Outcome::Environment => {
                "UPDATE workers SET environment_failures = environment_failures + 1 WHERE id = ?1"
            }
        }
    }
}

impl Store {
    /// Every known worker, oldest registration first, with its state now.
    pub fn list_workers(&self) -> StoreResult<Vec<WorkerStatus>> {
        let now_ms = self.clock.wall_ms();
        let gone_after_ms = self.gone_after_ms();
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT w.id, w.hostname, w.cores, w.slots, w.version, w.registered_ms, w.last_seen_ms,
                        w.draining, w.done, w.failed, w.environment_failures, w.quarantine_reason,
                        (SELECT count(*) FROM trials t WHERE t.state = 'running' AND t.worker_id = w.id)
                 FROM workers w ORDER BY w.registered_ms, w.id",
            )?;
            let rows = stmt.query_map([], |r| {
                let last_seen: i64 = r.get(6)?;
                let draining: bool = r.get(7)?;
                let reason: String = r.get(11)?;
                Ok(WorkerStatus {
                    worker_id: r.get(0)?,
                    hostname: r.get(1)?,
                    cores: r.get(2)?,
                    slots: r.get(3)?,
                    version: r.get(4)?,
                    registered_unix_ms: r.get::<_, i64>(5)? as u64,
                    last_seen_unix_ms: last_seen as u64,
                    state: state_of(last_seen as u64, draining, &reason, now_ms, gone_after_ms),
                    done: r.get::<_, i64>(8)? as u64,
                    failed: r.get::<_, i64>(9)? as u64,
                    environment_failures: r.get::<_, i64>(10)? as u64,
                    running: r.get(12)?,
                    quarantine_reason: reason,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// A worker's state from its row, `now_ms` on the wall clock.
fn state_of(
    last_seen_ms: u64,
    draining: bool,
    quarantine_reason: &str,
    now_ms: u64,
    gone_after_ms: u64,
) -> WorkerState {
    if now_ms.saturating_sub(last_seen_ms) > gone_after_ms {
        WorkerState::Gone
    } else if !quarantine_reason.is_empty() {
        WorkerState::Quarantined
    } else if draining {
        WorkerState::Draining
    } else {
        WorkerState::Active
    }
}

/// How many known workers are in each state now.
pub(super) fn counts(
    conn: &Connection,
    now_ms: u64,
    gone_after_ms: u64,
) -> StoreResult<WorkerCounts> {
    let mut stmt =
        conn.prepare_cached("SELECT last_seen_ms, draining, quarantine_reason FROM workers")?;
    let mut counts = WorkerCounts::default();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (seen, draining, reason) = row?;
        match state_of(seen as u64, draining, &reason, now_ms, gone_after_ms) {
            WorkerState::Active => counts.active += 1,
            WorkerState::Draining => counts.draining += 1,
            WorkerState::Quarantined => counts.quarantined += 1,
            WorkerState::Gone => counts.gone += 1,
        }
    }
    Ok(counts)
}

/// Whether `worker_id` drains, and why it is quarantined ("" if it is not).
pub(super) fn standing(tx: &Transaction, worker_id: &str) -> StoreResult<(bool, String)> {
    Ok(tx
        .prepare_cached("SELECT draining, quarantine_reason FROM workers WHERE id = ?1")?
        .query_row([worker_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Counts `outcome` of `worker_id` on a trial and re-judges its quarantine
/// on its latest `quarantine_after` outcomes. When the worker went into or
/// out of quarantine, every running sweep is marked as changed (their
/// summaries count workers).
pub(super) fn record(
    tx: &Transaction,
    worker_id: &str,
    (sweep_id, trial_id): (&str, &str),
    outcome: Outcome,
    error: &str,
    quarantine_after: u32,
    changed: &mut Changed,
) -> StoreResult<()> {
    // Cached statements: this runs on every final report (the lease path's
    // hot loop), so nothing is parsed twice.
    tx.prepare_cached(
        "INSERT INTO worker_outcomes (worker_id, sweep_id, trial_id, kind, error)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        worker_id,
        sweep_id,
        trial_id,
        outcome.as_str(),
        error
    ])?;
    tx.prepare_cached(outcome.count_sql())?
        .execute([worker_id])?;
    let latest: Vec<(String, String, String, String)> = tx
        .prepare_cached(
            "SELECT kind, sweep_id, trial_id, error FROM worker_outcomes
             WHERE worker_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?
        .query_map(params![worker_id, quarantine_after.max(1)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut trials: Vec<(&str, &str)> = latest
        .iter()
        .map(|(_, s, t, _)| (s.as_str(), t.as_str()))
        .collect();
    trials.sort_unstable();
    trials.dedup();
    let quarantined = quarantine_after > 0
        && latest.len() == quarantine_after as usize
        && latest.iter().all(|(kind, ..)| kind == "environment")
        && trials.len() == latest.len();
    let reason = if quarantined {
        format!(
            "its last {quarantine_after} trials failed for environment reasons (last: {})",
            latest[0].3
        )
    } else {
        String::new()
    };
    let (_, before) = standing(tx, worker_id)?;
    if before.is_empty() && quarantined {
        tracing::warn!(worker = %worker_id, "worker {worker_id} quarantined: {reason}");
        changed.extend(running_sweeps(tx)?);
    } else if !before.is_empty() && !quarantined {
        tracing::info!(worker = %worker_id, "worker {worker_id} is out of quarantine");
        changed.extend(running_sweeps(tx)?);
    }
    if before != reason {
        tx.prepare_cached("UPDATE workers SET quarantine_reason = ?2 WHERE id = ?1")?
            .execute(params![worker_id, reason])?;
    }
    Ok(())
}

/// The ids of the sweeps not cancelled (their watchers care about workers).
pub(super) fn running_sweeps(tx: &Transaction) -> StoreResult<Vec<String>> {
    let ids = tx
        .prepare_cached("SELECT id FROM sweeps WHERE state = 'running'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// On how many different workers the trial failed for environment reasons.
pub(super) fn environment_workers(
    tx: &Transaction,
    sweep_id: &str,
    trial_id: &str,
) -> StoreResult<u32> {
    Ok(tx.query_row(
        "SELECT count(DISTINCT worker_id) FROM worker_outcomes
         WHERE sweep_id = ?1 AND trial_id = ?2 AND kind = 'environment'",
        [sweep_id, trial_id],
        |r| r.get(0),
    )?)
}

/// One sentence when `pending` trials cannot go to any worker because every
/// known one is quarantined, gone or draining; empty otherwise (also when no
/// worker has registered yet).
pub(super) fn stalled_reason(pending: u64, workers: &WorkerCounts) -> String {
    if pending == 0 || workers.active > 0 || workers.known() == 0 {
        return String::new();
    }
    let mut why = Vec::new();
    if workers.quarantined > 0 {
        why.push(format!(
            "{} quarantined after environment failures",
            workers.quarantined
        ));
    }
    if workers.gone > 0 {
        why.push(format!("{} gone", workers.gone));
    }
    if workers.draining > 0 {
        why.push(format!("{} draining", workers.draining));
    }
    let known = workers.known();
    format!(
        "{pending} trial{} pending but no worker can take {}: of {known} known worker{}, {}",
        if pending == 1 { " is" } else { "s are" },
        if pending == 1 { "it" } else { "them" },
        if known == 1 { "" } else { "s" },
        why.join(", ")
    )
}
