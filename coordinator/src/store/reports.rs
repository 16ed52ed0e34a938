//! What workers report about a leased trial: heartbeats (progress, lease
//! renewal) and the final result or failure.
//!
//! Fencing is by attempt number: anything about an attempt other than the
//! trial's latest is refused as stale. A report of the latest attempt is
//! accepted even when the lease had already expired (the trial was requeued
//! or failed, but nobody leased it since): a heartbeat then re-adopts the
//! lease, a result is stored. A repeated final report is acknowledged
//! without storing anything twice.

use super::error::{StoreError, StoreResult};
use super::leases::touch_worker;
use super::model::{CompletionReport, FailureReport, HeartbeatAnswer, HeartbeatReport, TrialState};
use super::sweeps::trial_state;
use super::Store;
use rusqlite::{params, OptionalExtension, Transaction};
use sweep_proto::trial::{EpochMetrics, TrialResult};

/// The trial row a report is about, with what its sweep says.
#[derive(Debug)]
struct Target {
    sweep_id: String,
    trial_id: String,
    state: TrialState,
    attempt: u32,
    attempts_counted: u32,
    counted_attempt: u32,
    reported_attempt: u32,
    max_attempts: u32,
    sweep_cancelled: bool,
    metric_name: String,
}

impl Target {
    /// Refuses an attempt other than the latest (or a trial never leased).
    fn check_attempt(&self, attempt: u32) -> StoreResult<()> {
        if self.attempt == 0 || attempt != self.attempt {
            return Err(StoreError::StaleAttempt {
                trial_id: self.trial_id.clone(),
                got: attempt,
                current: self.attempt,
            });
        }
        Ok(())
    }

    /// Counted attempts once the latest one counts (never counted twice).
    fn counted_with_latest(&self) -> u32 {
        if self.counted_attempt < self.attempt {
            self.attempts_counted + 1
        } else {
            self.attempts_counted
        }
    }

    /// Counted attempts once the latest one does not count (undoing an expiry).
    fn counted_without_latest(&self) -> u32 {
        if self.counted_attempt == self.attempt {
            self.attempts_counted.saturating_sub(1)
        } else {
            self.attempts_counted
        }
    }
}

impl Store {
    /// Renews the lease of a running trial and records its finished epochs
    /// (idempotent by epoch number). `stop` is true once the sweep is
    /// cancelled (the trial is then marked cancelled).
    pub fn heartbeat(&self, report: &HeartbeatReport) -> StoreResult<HeartbeatAnswer> {
        let epochs = parse_epochs(&report.epoch_json)?;
        let lease_ms = self.lease_ms;
        self.write(|tx, now, changed| {
            touch_worker(tx, &report.worker_id, now)?;
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            if t.reported_attempt == t.attempt {
                return Err(StoreError::AlreadyReported {
                    trial_id: t.trial_id,
                    attempt: t.attempt,
                });
            }
            insert_epochs(tx, &t, &epochs)?;
            let last_val_acc = epochs.iter().max_by_key(|(e, _)| e.epoch).map(|(e, _)| e.val_acc);
            let stop = t.sweep_cancelled || t.state == TrialState::Cancelled;
            let (state, deadline, counted, counted_attempt) = if stop {
                (TrialState::Cancelled, None, t.attempts_counted, t.counted_attempt)
            } else {
                if t.state != TrialState::Running {
                    tracing::info!(
                        trial = %t.trial_id,
                        "worker {} still runs attempt {} of trial {} ({}): lease re-adopted",
                        report.worker_id, t.attempt, t.trial_id, t.state.as_str()
                    );
                }
                let counted = t.counted_without_latest();
                (
                    TrialState::Running,
                    Some((now + lease_ms) as i64),
                    counted,
                    t.counted_attempt.min(t.attempt - 1),
                )
            };
            tx.execute(
                "UPDATE trials
                 SET state = ?3, lease_deadline_ms = ?4, attempts_counted = ?5, counted_attempt = ?6,
                     worker_id = ?7, epochs_done = ?8,
                     total_epochs = CASE WHEN ?9 > 0 THEN ?9 ELSE total_epochs END,
                     last_val_acc = COALESCE(?10, last_val_acc),
                     last_error = CASE WHEN ?3 = 'cancelled' THEN 'sweep cancelled' ELSE last_error END
                 WHERE sweep_id = ?1 AND trial_id = ?2",
                params![
                    t.sweep_id,
                    t.trial_id,
                    state.as_str(),
                    deadline,
                    counted,
                    counted_attempt,
                    report.worker_id,
                    report.epochs_done,
                    report.total_epochs,
                    last_val_acc,
                ],
            )?;
            changed.push(t.sweep_id);
            Ok(HeartbeatAnswer { stop, lease_ms })
        })
    }

    /// Stores a finished trial's result; `Ok(false)` when this attempt's
    /// result was already stored (the first one stays).
    pub fn complete(&self, report: &CompletionReport) -> StoreResult<bool> {
        let result: TrialResult = serde_json::from_str(&report.result_json)
            .map_err(|e| StoreError::Invalid(format!("result_json: not a TrialResult: {e}")))?;
        self.write(|tx, now, changed| {
            let _ = touch_worker(tx, &report.worker_id, now);
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            if t.state == TrialState::Done {
                return Ok(false);
            }
            let metric = result.metric(&t.metric_name).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "result_json: no `{}` at best_epoch {} (not among its epochs)",
                    t.metric_name, result.best_epoch
                ))
            })?;
            let epochs: Vec<(EpochMetrics, String)> = result
                .epochs
                .iter()
                .map(|e| {
                    (
                        e.clone(),
                        serde_json::to_string(e).expect("epoch metrics serialise"),
                    )
                })
                .collect();
            insert_epochs(tx, &t, &epochs)?;
            let last_val_acc = result
                .epochs
                .iter()
                .max_by_key(|e| e.epoch)
                .map(|e| e.val_acc);
            tx.execute(
                "UPDATE trials
                 SET state = 'done', result_json = ?3, metric = ?4, test_acc = ?5, best_epoch = ?6,
                     wall_s = ?7, reported_attempt = attempt, lease_deadline_ms = NULL, last_error = '',
                     worker_id = ?8, epochs_done = ?9, last_val_acc = COALESCE(?10, last_val_acc)
                 WHERE sweep_id = ?1 AND trial_id = ?2",
                params![
                    t.sweep_id,
                    t.trial_id,
                    report.result_json,
                    metric.is_finite().then_some(metric),
                    result.test.acc.is_finite().then_some(result.test.acc),
                    result.best_epoch,
                    if result.wall_s.is_finite() {
                        result.wall_s
                    } else {
                        0.0
                    },
                    report.worker_id,
                    result.epochs.len() as u32,
                    last_val_acc,
                ],
            )?;
            changed.push(t.sweep_id);
            Ok(true)
        })
    }

    /// Records a failed (or handed back) attempt; `Ok(false)` when it repeats
    /// a stored report. A failure counts an attempt: the trial is pending
    /// again while attempts remain, else failed with `error`. A hand-back
    /// does not count.
    pub fn fail(&self, report: &FailureReport) -> StoreResult<bool> {
        self.write(|tx, now, changed| {
            let _ = touch_worker(tx, &report.worker_id, now);
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            if t.state == TrialState::Done || t.reported_attempt == t.attempt {
                return Ok(false);
            }
            let (counted, counted_attempt) = if report.handed_back {
                (t.counted_without_latest(), t.counted_attempt.min(t.attempt - 1))
            } else {
                (t.counted_with_latest(), t.attempt)
            };
            let state = if !report.handed_back && counted >= t.max_attempts {
                TrialState::Failed
            } else if t.sweep_cancelled {
                TrialState::Cancelled
            } else {
                TrialState::Pending
            };
            tx.execute(
                "UPDATE trials
                 SET state = ?3, attempts_counted = ?4, counted_attempt = ?5, reported_attempt = attempt,
                     lease_deadline_ms = NULL, last_error = ?6, worker_id = ?7
                 WHERE sweep_id = ?1 AND trial_id = ?2",
                params![
                    t.sweep_id,
                    t.trial_id,
                    state.as_str(),
                    counted,
                    counted_attempt,
                    report.error,
                    report.worker_id,
                ],
            )?;
            changed.push(t.sweep_id);
            Ok(true)
        })
    }
}

/// Parses heartbeat epochs, keeping each one's text.
fn parse_epochs(texts: &[String]) -> StoreResult<Vec<(EpochMetrics, String)>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            serde_json::from_str::<EpochMetrics>(text)
                .map(|e| (e, text.clone()))
                .map_err(|e| StoreError::Invalid(format!("epoch_json[{i}]: not EpochMetrics: {e}")))
        })
        .collect()
}

/// Stores epochs of the target's latest attempt; an epoch already stored is kept.
fn insert_epochs(
    tx: &Transaction,
    t: &Target,
    epochs: &[(EpochMetrics, String)],
) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO epochs (sweep_id, trial_id, attempt, epoch, json)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (e, json) in epochs {
        stmt.execute(params![t.sweep_id, t.trial_id, t.attempt, e.epoch, json])?;
    }
    Ok(())
}

/// The trial a report is about: `(sweep_id, trial_id)`. A report without a
/// sweep id (an older worker) means, of the trials with that id, the one this
/// worker runs, else the one it ran last, else one running anywhere, else the
/// latest leased.
fn find(tx: &Transaction, sweep_id: &str, trial_id: &str, worker_id: &str) -> StoreResult<Target> {
    let row = tx
        .query_row(
            "SELECT t.sweep_id, t.trial_id, t.state, t.attempt, t.attempts_counted, t.counted_attempt,
                    t.reported_attempt, s.max_attempts, s.state, s.metric_name
             FROM trials t JOIN sweeps s ON s.id = t.sweep_id
             WHERE t.trial_id = ?1 AND (?3 = '' OR t.sweep_id = ?3)
             ORDER BY (t.state = 'running' AND t.worker_id = ?2) DESC, t.worker_id = ?2 DESC,
                      t.state = 'running' DESC, t.leased_at_ms DESC, s.seq DESC
             LIMIT 1",
            params![trial_id, worker_id, sweep_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    [r.get::<_, u32>(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?],
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                ))
            },
        )
        .optional()?;
    let (sweep_id, trial_id, state, n, sweep_state, metric_name) =
        row.ok_or_else(|| StoreError::NoTrial(trial_id.to_string()))?;
    Ok(Target {
        sweep_id,
        trial_id,
        state: trial_state(&state)?,
        attempt: n[0],
        attempts_counted: n[1],
        counted_attempt: n[2],
        reported_attempt: n[3],
        max_attempts: n[4],
        sweep_cancelled: sweep_state == "cancelled",
        metric_name,
    })
}
