//! A sweep's summary and the workers as the pages read them (JSON): state,
//! trial counts, metric and goal, best trial, creation time, running trials.

use crate::store::{SweepState, SweepSummary, WorkerStatus};
use serde::Serialize;

/// One sweep at a glance.
#[derive(Debug, Serialize)]
pub struct SweepJson {
    pub sweep_id: String,
    pub name: String,
    pub state: &'static str,
    pub metric_name: String,
    pub goal: &'static str,
    pub created_unix_ms: u64,
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub best_metric: Option<f64>,
    pub best_trial: Option<String>,
    pub stalled_reason: String,
    /// (trial id, worker id, epochs done, epochs in all).
    pub running_trials: Vec<(String, String, u32, u32)>,
}

impl From<&SweepSummary> for SweepJson {
    fn from(s: &SweepSummary) -> Self {
        let c = s.counts;
        SweepJson {
            sweep_id: s.sweep_id.clone(),
            name: s.name.clone(),
            state: match s.state {
                SweepState::Running => "running",
                SweepState::Finished => "finished",
                SweepState::Cancelled => "cancelled",
            },
            metric_name: s.metric_name.clone(),
            goal: s.goal.as_str(),
            created_unix_ms: s.created_unix_ms,
            total: c.total,
            pending: c.pending,
            running: c.running,
            done: c.done,
            failed: c.failed,
            cancelled: c.cancelled,
            best_metric: s.best.as_ref().map(|(m, _)| *m).filter(|m| m.is_finite()),
            best_trial: s.best.as_ref().map(|(_, id)| id.clone()),
            stalled_reason: s.stalled_reason.clone(),
            running_trials: s
                .running
                .iter()
                .map(|r| {
                    (
                        r.trial_id.clone(),
                        r.worker_id.clone(),
                        r.epochs_done,
                        r.total_epochs,
                    )
                })
                .collect(),
        }
    }
}

/// One worker, with the trials it runs now ((sweep id, trial id)).
#[derive(Debug, Serialize)]
pub struct WorkerJson {
    pub worker_id: String,
    pub hostname: String,
    pub cores: u32,
    pub slots: u32,
    pub version: String,
    pub state: &'static str,
    pub registered_unix_ms: u64,
    pub last_seen_unix_ms: u64,
    pub done: u64,
    pub failed: u64,
    pub environment_failures: u64,
    pub quarantine_reason: String,
    pub current: Vec<(String, String)>,
}

impl WorkerJson {
    /// `w`, running the trials of `running` ((sweep, trial, worker)) that are its.
    pub fn new(w: &WorkerStatus, running: &[(String, String, String)]) -> Self {
        WorkerJson {
            worker_id: w.worker_id.clone(),
            hostname: w.hostname.clone(),
            cores: w.cores,
            slots: w.slots,
            version: w.version.clone(),
            state: w.state.as_str(),
            registered_unix_ms: w.registered_unix_ms,
            last_seen_unix_ms: w.last_seen_unix_ms,
            done: w.done,
            failed: w.failed,
            environment_failures: w.environment_failures,
            quarantine_reason: w.quarantine_reason.clone(),
            current: running
                .iter()
                .filter(|(_, _, worker)| *worker == w.worker_id)
                .map(|(sweep, trial, _)| (sweep.clone(), trial.clone()))
                .collect(),
        }
    }
}
