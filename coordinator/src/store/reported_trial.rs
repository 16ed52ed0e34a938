//! The trial row a worker's heartbeat or report is about, found by
//! `(sweep_id, trial_id)`, fenced by attempt number and by owner (only the
//! worker holding the latest attempt may report on it), with the attempt
//! bookkeeping (which attempts count toward `max_attempts`).

use super::error::{StoreError, StoreResult};
use super::model::TrialState;
use super::sweeps::trial_state;
use rusqlite::{params, OptionalExtension, Transaction};

/// The trial row a report is about, with what its sweep says.
#[derive(Debug)]
pub(super) struct ReportedTrial {
    pub(super) sweep_id: String,
    pub(super) trial_id: String,
    pub(super) state: TrialState,
    pub(super) attempt: u32,
    pub(super) attempts_counted: u32,
    pub(super) counted_attempt: u32,
    pub(super) reported_attempt: u32,
    pub(super) max_attempts: u32,
    pub(super) sweep_cancelled: bool,
    pub(super) metric_name: String,
    /// The worker the latest attempt was leased to.
    pub(super) worker_id: String,
    pub(super) handbacks: u32,
}

impl ReportedTrial {
    /// Refuses an attempt other than the latest (or a trial never leased).
    pub(super) fn check_attempt(&self, attempt: u32) -> StoreResult<()> {
        if self.attempt == 0 || attempt != self.attempt {
            return Err(StoreError::StaleAttempt {
                trial_id: self.trial_id.clone(),
                got: attempt,
                current: self.attempt,
            });
        }
        Ok(())
    }

    /// Refuses a report of `worker_id` on an attempt leased to another worker.
    pub(super) fn check_owner(&self, worker_id: &str) -> StoreResult<()> {
        if self.worker_id != worker_id {
            return Err(StoreError::NotYourLease {
                trial_id: self.trial_id.clone(),
                attempt: self.attempt,
                worker_id: worker_id.to_string(),
            });
        }
        Ok(())
    }

    /// Refuses a trial in a terminal state: it never reopens.
    pub(super) fn check_open(&self) -> StoreResult<()> {
        if self.state.is_terminal() {
            return Err(StoreError::TrialOver {
                trial_id: self.trial_id.clone(),
                state: self.state,
            });
        }
        Ok(())
    }

    /// Counted attempts once the latest one counts (never counted twice).
    pub(super) fn counted_with_latest(&self) -> u32 {
        if self.counted_attempt < self.attempt {
            self.attempts_counted + 1
        } else {
            self.attempts_counted
        }
    }

    /// Counted attempts once the latest one does not count (undoing an expiry).
    pub(super) fn counted_without_latest(&self) -> u32 {
        if self.counted_attempt == self.attempt {
            self.attempts_counted.saturating_sub(1)
        } else {
            self.attempts_counted
        }
    }
}

/// The trial a report is about: `(sweep_id, trial_id)`. A report without a
/// sweep id (an older worker) means, of the trials with that id, the one this
/// worker runs, else the one it ran last, else one running anywhere, else the
/// latest leased.
pub(super) fn find(
    tx: &Transaction,
    sweep_id: &str,
    trial_id: &str,
    worker_id: &str,
) -> StoreResult<ReportedTrial> {
    let row = tx
        .query_row(
            "SELECT t.sweep_id, t.trial_id, t.state, t.attempt, t.attempts_counted, t.counted_attempt,
                    t.reported_attempt, s.max_attempts, s.state, s.metric_name, t.worker_id, t.handbacks
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
                    r.get::<_, String>(10)?,
                    r.get::<_, u32>(11)?,
                ))
            },
        )
        .optional()?;
    let (sweep_id, trial_id, state, n, sweep_state, metric_name, owner, handbacks) =
        row.ok_or_else(|| StoreError::NoTrial(trial_id.to_string()))?;
    Ok(ReportedTrial {
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
        worker_id: owner,
        handbacks,
    })
}
