//! The checker, Jepsen-style: reads the database (after the coordinator
//! has stopped, so that nothing changes under it) and the
//! evidence from the logs, and lists every broken promise:
//!
//! - every trial ends in exactly one terminal state (done or failed);
//! - every done trial's result came from an attempt a worker leased and
//!   ran to a result (its log says so, under a worker id it registered);
//! - no result acknowledged to a worker is missing from the database, and
//!   one acknowledged as stored now is the one the trial keeps;
//! - no trial has two accepted results (by the workers' acknowledgements
//!   and by the coordinators' logs);
//! - attempts that count never exceed `max_attempts` (hand-backs and
//!   environment failures are counted apart);
//! - the sweep ended finished.

use super::evidence::Evidence;
use rusqlite::{Connection, OpenFlags};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One trial's row, as the checker needs it.
#[derive(Debug, Clone)]
pub struct TrialRow {
    pub sweep_id: String,
    pub trial_id: String,
    pub state: String,
    pub attempt: u32,
    pub attempts_counted: u32,
    pub reported_attempt: u32,
    pub worker_id: String,
    pub has_result: bool,
    pub handbacks: u32,
    pub environment_failures: u32,
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub trials: usize,
    pub done: usize,
    pub failed: usize,
    /// Results acknowledged to a worker but not in the database, and
    /// trials that never reached a terminal state.
    pub lost: usize,
    /// Trials with more than one accepted result.
    pub duplicated: usize,
    /// Trials leased more than once.
    pub retried: usize,
    pub handbacks: u32,
    pub environment_failures: u32,
    /// The evidence's size: attempts logged as run to a result, and
    /// results acknowledged to workers.
    pub finished_attempts: usize,
    pub acked_results: usize,
    /// Every broken promise, one line each, with its evidence.
    pub violations: Vec<String>,
}

/// Reads every trial of `sweep_id` and the sweep's `max_attempts` and state.
pub fn read_db(db: &Path, sweep_id: &str) -> (Vec<TrialRow>, u32, String) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("cannot open {} read-only: {e}", db.display()));
    let (max_attempts, state): (u32, String) = conn
        .query_row(
            "SELECT max_attempts, state FROM sweeps WHERE id = ?1",
            [sweep_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the sweep's row");
    let mut stmt = conn
        .prepare(
            "SELECT sweep_id, trial_id, state, attempt, attempts_counted, reported_attempt,
                    worker_id, result_json IS NOT NULL, handbacks, environment_failures
             FROM trials WHERE sweep_id = ?1 ORDER BY idx",
        )
        .expect("the trials query");
    let rows = stmt
        .query_map([sweep_id], |r| {
            Ok(TrialRow {
                sweep_id: r.get(0)?,
                trial_id: r.get(1)?,
                state: r.get(2)?,
                attempt: r.get(3)?,
                attempts_counted: r.get(4)?,
                reported_attempt: r.get(5)?,
                worker_id: r.get(6)?,
                has_result: r.get(7)?,
                handbacks: r.get(8)?,
                environment_failures: r.get(9)?,
            })
        })
        .expect("the trials")
        .collect::<Result<Vec<_>, _>>()
        .expect("every trial row");
    (rows, max_attempts, state)
}

/// Judges the trials against the evidence.
pub fn check(trials: &[TrialRow], max_attempts: u32, evidence: &Evidence) -> Verdict {
    let mut v = Verdict {
        trials: trials.len(),
        finished_attempts: evidence.finished.len(),
        acked_results: evidence
            .acks
            .iter()
            .filter(|a| a.outcome == "result")
            .count(),
        ..Verdict::default()
    };
    let by_key: BTreeMap<(&str, &str), &TrialRow> = trials
        .iter()
        .map(|t| ((t.sweep_id.as_str(), t.trial_id.as_str()), t))
        .collect();
    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for t in trials {
        v.handbacks += t.handbacks;
        v.environment_failures += t.environment_failures;
        v.retried += usize::from(t.attempt > 1);
        match t.state.as_str() {
            "done" => v.done += 1,
            "failed" => v.failed += 1,
            other => {
                lost.insert(t.trial_id.clone());
                v.violations.push(format!(
                    "trial {} ended {other}, not done or failed: {t:?}",
                    t.trial_id
                ));
            }
        }
        if t.state == "done" {
            let key = (t.sweep_id.clone(), t.trial_id.clone(), t.reported_attempt);
            if !t.has_result {
                v.violations.push(format!(
                    "trial {} is done without a result: {t:?}",
                    t.trial_id
                ));
            }
            if !evidence.leased.contains(&key) {
                v.violations.push(format!(
                    "trial {} is done by attempt {}, which no worker logged leasing: {t:?}",
                    t.trial_id, t.reported_attempt
                ));
            }
            match evidence.finished.get(&key) {
                None => v.violations.push(format!(
                    "trial {} is done by attempt {}, which no worker logged finishing: {t:?}",
                    t.trial_id, t.reported_attempt
                )),
                Some(ids) if !ids.contains(&t.worker_id) => v.violations.push(format!(
                    "trial {} is done by attempt {} of worker {}, but the logs that finished it registered only {ids:?}",
                    t.trial_id, t.reported_attempt, t.worker_id
                )),
                Some(_) => {}
            }
        }
        if t.attempts_counted > max_attempts {
            v.violations.push(format!(
                "trial {} counted {} attempts, more than max_attempts {max_attempts}: {t:?}",
                t.trial_id, t.attempts_counted
            ));
        }
    }
    // Acknowledged results: in the database, and accepted once.
    let mut accepted: BTreeMap<(String, String), BTreeSet<u32>> = BTreeMap::new();
    for ack in evidence.acks.iter().filter(|a| a.outcome == "result") {
        let (sweep, trial, attempt) = &ack.key;
        match by_key.get(&(sweep.as_str(), trial.as_str())) {
            Some(t) if t.state == "done" => {
                if ack.stored && t.reported_attempt != *attempt {
                    duplicated.insert(trial.clone());
                    v.violations.push(format!(
                        "attempt {attempt} of trial {trial} was acknowledged as stored ({}), but the trial keeps attempt {}'s result",
                        ack.log, t.reported_attempt
                    ));
                }
            }
            other => {
                lost.insert(trial.clone());
                v.violations.push(format!(
                    "LOST: the result of trial {trial} attempt {attempt} was acknowledged to worker {} ({}), but the trial is {:?}",
                    ack.worker,
                    ack.log,
                    other.map(|t| &t.state)
                ));
            }
        }
        if ack.stored {
            accepted
                .entry((sweep.clone(), trial.clone()))
                .or_default()
                .insert(*attempt);
        }
    }
    for ((_, trial), attempts) in &accepted {
        if attempts.len() > 1 {
            duplicated.insert(trial.clone());
            v.violations.push(format!(
                "DUPLICATE: trial {trial} had results of attempts {attempts:?} acknowledged as stored"
            ));
        }
    }
    for (trial, attempts) in &evidence.stored_by_coordinator {
        if attempts.len() > 1 {
            duplicated.insert(trial.clone());
            v.violations.push(format!(
                "DUPLICATE: the coordinators logged storing results of trial {trial} {} times (attempts {attempts:?})",
                attempts.len()
            ));
        }
    }
    v.lost = lost.len();
    v.duplicated = duplicated.len();
    v
}
