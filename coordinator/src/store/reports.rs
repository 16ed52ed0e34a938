//! What workers report about a leased trial: heartbeats (progress, lease
//! renewal) and the final result or failure.
//!
//! Fencing is by attempt number: anything about an attempt other than the
//! trial's latest is refused as stale; and by owner: a report on the latest
//! attempt from a worker other than the one it was leased to is refused
//! (`NotYourLease`) and changes nothing. Done, failed and cancelled are
//! terminal: a heartbeat or a hand-back for such a trial is refused and
//! changes nothing, so a sweep that finished never runs again. Stopped
//! (early, by the sweep's `early_stop`) is terminal too. A report of
//! the latest attempt is still accepted after its lease expired: a heartbeat
//! re-adopts a trial that went back to pending (nobody leased it since), a
//! result is stored even when the expiry failed the trial (failed → done;
//! nothing is thrown away). A repeated final report is acknowledged without
//! storing anything twice.
//!
//! Epochs and results may carry non-finite values (JSON `"NaN"`, `"inf"`,
//! `"-inf"`, see `sweep_proto::trial::nonfinite`); they are stored as sent. A
//! result that diverged completes its trial like any other (no attempt is
//! counted), with no metric (SQL `NULL`: it ranks after every finite result)
//! and where it diverged as the trial's last error. Non-finite values never
//! reach a `REAL` column: they are stored as `NULL` there.

use super::early_stopping;
use super::epoch_bounds;
use super::error::{StoreError, StoreResult};
use super::model::{
    CompletionReport, FailureCause, FailureReport, HeartbeatAnswer, HeartbeatReport, TrialState,
};
use super::reported_trial::{find, ReportedTrial};
use super::sweeps::sweep_metric;
use super::worker_health::{self, Outcome};
use super::worker_registry::touch_worker;
use super::Store;
use rusqlite::{params, Transaction};
use sweep_proto::trial::{EpochMetrics, TrialResult};

impl Store {
    /// Renews the lease of a running trial (or re-adopts a pending one) and
    /// records its finished epochs (idempotent by epoch number). `stop` is
    /// true once the sweep is cancelled (the trial is then marked cancelled),
    /// or when the sweep's `early_stop` stops the trial on these epochs (it
    /// is then `stopped`, and `stopped_early` says why; see
    /// `early_stopping`). Refused for a trial that is done, failed,
    /// cancelled or stopped.
    pub fn heartbeat(&self, report: &HeartbeatReport) -> StoreResult<HeartbeatAnswer> {
        let epochs = parse_epochs(&report.epoch_json)?;
        let lease_ms = self.lease_ms;
        let quarantine_after = self.policy.quarantine_after;
        self.write(|tx, now, changed| {
            touch_worker(tx, &report.worker_id, now)?;
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            t.check_owner(&report.worker_id)?;
            if t.reported_attempt == t.attempt {
                return Err(StoreError::AlreadyReported {
                    trial_id: t.trial_id,
                    attempt: t.attempt,
                });
            }
            t.check_open()?;
            let total_epochs = epoch_bounds::check(tx, &t, report, &epochs)?;
            insert_epochs(tx, &t, &epochs)?;
            let last_val_acc = epochs
                .iter()
                .max_by_key(|(e, _)| e.epoch)
                .map(|(e, _)| e.val_acc)
                .filter(|v| v.is_finite());
            let stop = t.sweep_cancelled;
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
                    Some((now.monotonic_ms + lease_ms) as i64),
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
                    total_epochs,
                    last_val_acc,
                ],
            )?;
            if !stop {
                if let Some(rule) = early_stopping::rule(tx, &t.sweep_id)? {
                    let (_, goal) = sweep_metric(tx, &t.sweep_id)?;
                    let new: Vec<u32> = epochs.iter().map(|(e, _)| e.epoch).collect();
                    let decision = early_stopping::judge(
                        tx,
                        &t,
                        &rule,
                        &new,
                        total_epochs,
                        goal,
                        quarantine_after,
                        changed,
                    )?;
                    if let Some(d) = decision {
                        changed.push(t.sweep_id);
                        return Ok(HeartbeatAnswer {
                            stop: true,
                            lease_ms,
                            stopped_early: Some(d.reason),
                        });
                    }
                }
            }
            changed.push(t.sweep_id);
            Ok(HeartbeatAnswer {
                stop,
                lease_ms,
                stopped_early: None,
            })
        })
    }

    /// Stores a finished trial's result; `Ok(false)` when this attempt's
    /// result was already stored (the first one stays).
    pub fn complete(&self, report: &CompletionReport) -> StoreResult<bool> {
        let result: TrialResult =
            serde_json::from_str(&report.result_json).map_err(StoreError::BadResult)?;
        let quarantine_after = self.policy.quarantine_after;
        self.write(|tx, now, changed| {
            let _ = touch_worker(tx, &report.worker_id, now);
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            t.check_owner(&report.worker_id)?;
            // A stopped trial keeps its partial curve: a result that arrives
            // anyway (a worker that did not stop in time) is acknowledged
            // and not stored.
            if matches!(t.state, TrialState::Done | TrialState::Stopped) {
                return Ok(false);
            }
            epoch_bounds::check_result(tx, &t, &result)?;
            let metric =
                result
                    .ranked_metric(&t.metric_name)
                    .ok_or_else(|| StoreError::NoMetric {
                        metric: t.metric_name.clone(),
                        best_epoch: result.best_epoch,
                    })?;
            let note = result
                .diverged
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
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
                .map(|e| e.val_acc)
                .filter(|v| v.is_finite());
            tx.execute(
                "UPDATE trials
                 SET state = 'done', result_json = ?3, metric = ?4, test_acc = ?5, best_epoch = ?6,
                     wall_s = ?7, reported_attempt = attempt, lease_deadline_ms = NULL, last_error = ?11,
                     worker_id = ?8, epochs_done = ?9, last_val_acc = COALESCE(?10, last_val_acc)
                 WHERE sweep_id = ?1 AND trial_id = ?2",
                params![
                    t.sweep_id,
                    t.trial_id,
                    report.result_json,
                    metric,
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
                    note,
                ],
            )?;
            worker_health::record(
                tx,
                &report.worker_id,
                (&t.sweep_id, &t.trial_id),
                Outcome::Done,
                "",
                quarantine_after,
                changed,
            )?;
            changed.push(t.sweep_id);
            Ok(true)
        })
    }

    /// Records a failed, handed back or environment-failed attempt;
    /// `Ok(false)` when it repeats a stored report.
    ///
    /// - A failure (cause trial) counts an attempt: the trial is pending
    ///   again while attempts remain, else failed with `error`.
    /// - A hand-back does not count, up to the policy's `max_handbacks` per
    ///   trial; one beyond counts as a failed attempt (so a worker handing
    ///   back in a loop cannot requeue a trial forever).
    /// - An environment failure does not count an attempt either: the trial
    ///   is pending again (never for this worker), the failure counts
    ///   against the worker (quarantine, see `worker_health`), and once the
    ///   trial failed so on `poison_after` different workers it fails.
    ///
    /// Hand-backs and environment failures are refused for a trial that is
    /// done, failed or cancelled. A failure of an attempt whose trial
    /// already ended (failed by expiry, cancelled) is stored as its report;
    /// the state stays.
    pub fn fail(&self, report: &FailureReport) -> StoreResult<bool> {
        let policy = self.policy;
        self.write(|tx, now, changed| {
            let _ = touch_worker(tx, &report.worker_id, now);
            let t = find(tx, &report.sweep_id, &report.trial_id, &report.worker_id)?;
            t.check_attempt(report.attempt)?;
            t.check_owner(&report.worker_id)?;
            let kind = FailureKind::of(report);
            if kind != FailureKind::Trial {
                t.check_open()?;
            }
            if t.state == TrialState::Done || t.reported_attempt == t.attempt {
                return Ok(false);
            }
            let ids = (t.sweep_id.as_str(), t.trial_id.as_str());
            if t.state.is_terminal() {
                tx.execute(
                    "UPDATE trials
                     SET reported_attempt = attempt,
                         last_error = CASE WHEN state = 'failed' THEN ?3 ELSE last_error END
                     WHERE sweep_id = ?1 AND trial_id = ?2",
                    params![t.sweep_id, t.trial_id, report.error],
                )?;
                worker_health::record(
                    tx,
                    &report.worker_id,
                    ids,
                    Outcome::Failed,
                    &report.error,
                    policy.quarantine_after,
                    changed,
                )?;
                return Ok(true);
            }
            let handbacks = t.handbacks + u32::from(kind == FailureKind::HandBack);
            let (kind, error) = if kind == FailureKind::HandBack && handbacks > policy.max_handbacks {
                let error = format!(
                    "handed back {handbacks} times (more than max_handbacks {}): \
                     counted as a failed attempt; last: {}",
                    policy.max_handbacks, report.error
                );
                tracing::warn!(trial = %t.trial_id, "trial {}: {error}", t.trial_id);
                (FailureKind::Trial, error)
            } else if kind == FailureKind::Environment {
                let error = format!(
                    "environment failure on worker {}: {}",
                    report.worker_id, report.error
                );
                (kind, error)
            } else {
                (kind, report.error.clone())
            };
            let (counted, counted_attempt) = if kind == FailureKind::Trial {
                (t.counted_with_latest(), t.attempt)
            } else {
                (t.counted_without_latest(), t.counted_attempt.min(t.attempt - 1))
            };
            let mut error = error;
            let mut state = if kind == FailureKind::Trial && counted >= t.max_attempts {
                TrialState::Failed
            } else if t.sweep_cancelled {
                TrialState::Cancelled
            } else {
                TrialState::Pending
            };
            match kind {
                FailureKind::Trial => worker_health::record(
                    tx,
                    &report.worker_id,
                    ids,
                    Outcome::Failed,
                    &report.error,
                    policy.quarantine_after,
                    changed,
                )?,
                FailureKind::Environment => {
                    worker_health::record(
                        tx,
                        &report.worker_id,
                        ids,
                        Outcome::Environment,
                        &report.error,
                        policy.quarantine_after,
                        changed,
                    )?;
                    let workers = worker_health::environment_workers(tx, ids.0, ids.1)?;
                    if state == TrialState::Pending && workers >= policy.poison_after {
                        state = TrialState::Failed;
                        error = format!(
                            "failed for environment reasons on {workers} different workers \
                             (poison_after {}), so the trial itself likely breaks them; last: {error}",
                            policy.poison_after
                        );
                        tracing::warn!(trial = %t.trial_id, "trial {}: {error}", t.trial_id);
                    }
                }
                FailureKind::HandBack => {}
            }
            tx.execute(
                "UPDATE trials
                 SET state = ?3, attempts_counted = ?4, counted_attempt = ?5, reported_attempt = attempt,
                     lease_deadline_ms = NULL, last_error = ?6, worker_id = ?7, handbacks = ?8,
                     environment_failures = environment_failures + ?9
                 WHERE sweep_id = ?1 AND trial_id = ?2",
                params![
                    t.sweep_id,
                    t.trial_id,
                    state.as_str(),
                    counted,
                    counted_attempt,
                    error,
                    report.worker_id,
                    handbacks,
                    u32::from(kind == FailureKind::Environment),
                ],
            )?;
            changed.push(t.sweep_id);
            Ok(true)
        })
    }
}

/// What a failure report asks for: an environment failure wins over a
/// hand-back flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    Trial,
    HandBack,
    Environment,
}

impl FailureKind {
    fn of(report: &FailureReport) -> Self {
        if report.cause == FailureCause::Environment {
            FailureKind::Environment
        } else if report.handed_back {
            FailureKind::HandBack
        } else {
            FailureKind::Trial
        }
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
                .map_err(|source| StoreError::BadEpoch { index: i, source })
        })
        .collect()
}

/// Stores epochs of the target's latest attempt; an epoch already stored is kept.
fn insert_epochs(
    tx: &Transaction,
    t: &ReportedTrial,
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
